"""``TextClassifier``: the whole pipeline (tokenizer + recurrent model) as a
scikit-learn-style estimator: ``fit``, ``predict``, ``predict_proba``, ``score``,
plus ``save`` / ``load`` of a model directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .checkpoint import CONFIG, VOCAB, WEIGHTS, check_run_dir, read_json, write_atomic, write_json
from .config import Config, preset
from .errors import TextrnnError
from .model import RecurrentClassifier
from .tokenizer import Tokenizer
from .train import fit as fit_loop
from .train import predict_logits


def resolve_device(device: str) -> str:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise TextrnnError(f"device {device!r} asked for, but CUDA is not available here")
    if not (device == "cpu" or device.startswith("cuda")):
        raise TextrnnError(f"unknown device {device!r} (use cpu or cuda)")
    return device


class TextClassifier:
    """A recurrent text classifier built on textrnn's own RNN / GRU cells.

    >>> clf = TextClassifier(model="gru", epochs=5).fit(texts, labels)
    >>> clf.predict(["Parliament votes on the budget"])

    Keyword arguments override the preset's settings (see :class:`textrnn.Config`).
    """

    def __init__(self, model: str = "gru", preset_name: str = "default", *,
                 device: str = "cpu", verbose: bool = False, **settings) -> None:
        self.config = preset(preset_name, model, **settings)
        self.device = resolve_device(device)
        self.verbose = verbose
        self.classes_: list | None = None
        self.tokenizer_: Tokenizer | None = None
        self.model_: RecurrentClassifier | None = None
        self.history_: list[dict] = []

    @classmethod
    def from_config(cls, config: Config, *, device: str = "cpu",
                    verbose: bool = False) -> "TextClassifier":
        """Exactly ``config`` (None values included, unlike keyword overrides)."""
        self = cls(config.model, device=device, verbose=verbose)
        self.config = config.validate()
        return self

    # -- training --------------------------------------------------------------------
    def fit(self, texts: Sequence[str], labels: Sequence, X_val: Sequence[str] | None = None,
            y_val: Sequence | None = None, *, classes: Sequence | None = None,
            extra_texts: Sequence[str] = ()) -> "TextClassifier":
        """Train on ``texts``; early stopping and model selection use ``X_val``/``y_val``
        (without them, on the training loss). ``classes`` fixes the label order;
        ``extra_texts`` are fed to the tokenizer only (the seed preset's leak)."""
        cfg = self.config
        if len(texts) != len(labels):
            raise TextrnnError(f"{len(texts)} texts but {len(labels)} labels")
        if len(texts) == 0:
            raise TextrnnError("no training texts")
        self.classes_ = list(classes) if classes is not None else sorted(set(labels))
        torch.manual_seed(cfg.seed)
        tok_texts = list(texts) + list(extra_texts) if cfg.tokenizer_fit == "all" else texts
        self.tokenizer_ = Tokenizer(cfg.num_words, "<oov>" if cfg.oov else None,
                                    min_count=cfg.min_count).fit(tok_texts, self.verbose)
        self.model_ = RecurrentClassifier(self.tokenizer_.vocab_size, len(self.classes_), cfg)
        if cfg.pretrain == "word2vec":
            from .pretrain import word2vec_init
            word2vec_init(self.model_.embedding, texts, self.tokenizer_, cfg.seed, cfg.embedding_init)
        train = (self._encode(texts), self._label_ids(labels))
        val = (self._encode(X_val), self._label_ids(y_val)) if X_val is not None else None
        self.history_ = fit_loop(self.model_, cfg, train, val, self.device, self.verbose)
        return self

    # -- inference -------------------------------------------------------------------
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        self._check_fitted()
        if not isinstance(texts, str) and len(texts) == 0:
            return np.empty((0, len(self.classes_)), dtype=np.float32)
        logits = predict_logits(self.model_, self._encode(texts), device=self.device,
                                trim_padding=self.config.mask)
        return torch.softmax(logits, dim=-1).numpy()

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        ids = self.predict_proba(texts).argmax(1)
        return np.array([self.classes_[i] for i in ids])

    def score(self, texts: Sequence[str], labels: Sequence) -> float:
        return float(np.mean(self.predict(texts) == np.asarray(labels)))

    # -- persistence -------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write config.json, vocab.json and model.safetensors (each atomically)."""
        from safetensors.torch import save_file
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / CONFIG, {"config": self.config.to_dict(),
                                   "classes": [_jsonable(c) for c in self.classes_],
                                   "vocab_size": self.tokenizer_.vocab_size})
        write_json(path / VOCAB, self.tokenizer_.to_dict())
        state = {k: v.detach().cpu().contiguous() for k, v in self.model_.state_dict().items()}
        write_atomic(path / WEIGHTS, lambda p: save_file(state, str(p)))
        return path

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "TextClassifier":
        """Load a model directory; any missing, corrupt or mismatched file is one error."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        path = check_run_dir(path)
        meta = read_json(path / CONFIG)
        try:
            cfg = Config.from_dict(meta["config"])
            if not isinstance(meta["classes"], list) or not meta["classes"]:
                raise TextrnnError("'classes' is not a list of labels")
            classes, vocab_size = list(meta["classes"]), int(meta["vocab_size"])
            tokenizer = Tokenizer.from_dict(read_json(path / VOCAB))
            if tokenizer.vocab_size != vocab_size:
                raise TextrnnError(f"{VOCAB} has {tokenizer.vocab_size} token ids, {CONFIG} "
                                   f"says vocab_size {vocab_size}")
            model = RecurrentClassifier(vocab_size, len(classes), cfg)
        except TextrnnError as e:
            raise TextrnnError(f"{path}: corrupt run directory ({e})") from None
        except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as e:
            reason = " ".join(str(e).split())[:300]
            raise TextrnnError(f"{path}: corrupt run directory (bad or missing {reason})") from None
        self = cls.__new__(cls)
        self.config, self.device, self.verbose = cfg, resolve_device(device), False
        self.classes_, self.tokenizer_, self.history_ = classes, tokenizer, []
        self.model_ = model
        try:
            state = load_file(str(path / WEIGHTS))
            self.model_.load_state_dict(state)
        except (SafetensorError, OSError, RuntimeError, ValueError) as e:
            reason = " ".join(str(e).split())  # torch lists each mismatch on its own line
            reason = reason if len(reason) <= 300 else reason[:297] + "..."
            raise TextrnnError(f"{path / WEIGHTS}: corrupt or mismatched weights ({reason})") from None
        self.model_.to(self.device)
        return self

    # -- helpers -----------------------------------------------------------------------
    def _encode(self, texts: Sequence[str]) -> torch.Tensor:
        if isinstance(texts, str):
            raise TextrnnError("expected a list of texts, got one string")
        cfg = self.config
        return torch.from_numpy(self.tokenizer_.transform(texts, cfg.maxlen, cfg.padding,
                                                          cfg.truncating, self.verbose))

    def _label_ids(self, labels: Sequence) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.classes_)}
        try:
            return torch.tensor([index[_jsonable(y)] for y in labels], dtype=torch.long)
        except KeyError as e:
            raise TextrnnError(f"label {e.args[0]!r} is not one of the classes "
                               f"{self.classes_}") from None

    def _check_fitted(self) -> None:
        if self.model_ is None:
            raise TextrnnError("this TextClassifier is not fitted yet: call fit() or load()")


def _jsonable(v):
    """numpy scalars to Python ones, so labels round-trip through JSON unchanged."""
    return v.item() if isinstance(v, np.generic) else v
