"""The tokenizer reproduces keras.preprocessing.text.Tokenizer, pinned on cases
computed by hand from Keras' source (no Keras needed to run them)."""

import numpy as np
import pytest

from textrnn.tokenizer import Tokenizer, pad_sequences

TEXTS = ["The cat sat on the mat.", "The dog ate the cat's dinner!", "A dog, a cat."]


def test_split_lowercases_and_turns_keras_punctuation_into_spaces():
    tok = Tokenizer()
    assert tok.split("Hello, World! e-mail\tU.K.\n(2004)") == ["hello", "world", "e", "mail",
                                                               "u", "k", "2004"]
    # the apostrophe is not in Keras' filter: "cat's" stays one word
    assert tok.split("The cat's") == ["the", "cat's"]


def test_word_index_by_frequency_ties_by_first_occurrence():
    tok = Tokenizer().fit(TEXTS)
    # counts: the 4, cat 2, dog 2, a 2, sat/on/mat/ate/cat's/dinner 1, in first-seen order
    assert list(tok.word_index) == ["the", "cat", "dog", "a", "sat", "on", "mat", "ate",
                                    "cat's", "dinner"]
    assert tok.word_index["the"] == 1 and tok.word_index["dinner"] == 10


def test_num_words_keeps_ids_below_it_and_drops_the_rest():
    tok = Tokenizer(num_words=4).fit(TEXTS)   # ids 1..3: the, cat, dog
    assert tok.encode("the cat sat on the dog") == [1, 2, 1, 3]
    assert tok.vocab_size == 4


def test_oov_token_takes_id_1_and_replaces_rare_and_unknown_words():
    tok = Tokenizer(num_words=4, oov_token="<oov>").fit(TEXTS)   # 1 <oov>, 2 the, 3 cat
    assert tok.word_index["<oov>"] == 1 and tok.word_index["the"] == 2
    assert tok.encode("the cat dog zebra") == [2, 3, 1, 1]


def test_min_count_drops_rare_words():
    tok = Tokenizer(min_count=2).fit(TEXTS)
    assert list(tok.word_index) == ["the", "cat", "dog", "a"]
    assert tok.encode("the mat") == [1]


def test_pad_sequences_pre_and_post_like_keras():
    seqs = [[1, 2, 3, 4, 5], [6, 7], []]
    np.testing.assert_array_equal(pad_sequences(seqs, 3),            # pre / pre: Keras' default
                                  [[3, 4, 5], [0, 6, 7], [0, 0, 0]])
    np.testing.assert_array_equal(pad_sequences(seqs, 3, "post", "post"),
                                  [[1, 2, 3], [6, 7, 0], [0, 0, 0]])
    np.testing.assert_array_equal(pad_sequences(seqs, 3, "pre", "post"),
                                  [[1, 2, 3], [0, 6, 7], [0, 0, 0]])
    with pytest.raises(ValueError):
        pad_sequences(seqs, 3, "middle")


def test_transform_and_json_round_trip_keep_only_kept_words():
    tok = Tokenizer(num_words=4).fit(TEXTS)
    again = Tokenizer.from_dict(tok.to_dict())
    assert set(again.word_index) == {"the", "cat", "dog"}
    np.testing.assert_array_equal(again.transform(TEXTS, 4), tok.transform(TEXTS, 4))
    np.testing.assert_array_equal(tok.transform(["the cat sat"], 4), [[0, 0, 1, 2]])
