"""textrnn: recurrent text classifiers (vanilla RNN and GRU) written from their equations."""

from .api import TextClassifier
from .cells import GRUCell, VanillaRNNCell
from .config import Config, preset
from .data import Dataset, corpus_splits, load_dataset, split
from .errors import TextrnnError
from .layers import GRU, RNN, lengths_to_mask
from .model import RecurrentClassifier
from .tokenizer import Tokenizer, pad_sequences

__version__ = "0.1.0"
__all__ = ["TextClassifier", "GRUCell", "VanillaRNNCell", "GRU", "RNN", "lengths_to_mask",
           "RecurrentClassifier", "Config", "preset", "Dataset", "load_dataset", "split",
           "corpus_splits",
           "Tokenizer", "pad_sequences", "TextrnnError"]
