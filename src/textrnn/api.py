"""``TextClassifier``: the whole pipeline (tokenizer + recurrent model) as a
scikit-learn estimator: ``fit``, ``predict``, ``predict_proba``, ``score``,
``get_params`` / ``set_params`` (so ``clone``, ``GridSearchCV`` and ``Pipeline`` work),
plus ``save`` / ``load`` of a model directory.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split

from .checkpoint import CONFIG, VOCAB, WEIGHTS, check_run_dir, read_json, write_atomic, write_json
from .config import MAX_MEMBERS, SETTINGS, Config, help_text, preset
from .errors import TextrnnError
from .model import build, classifiers
from .resume import Checkpoints, list_checkpoints
from .token_ids import encode
from .tokenizer import Tokenizer
from .train import fit as fit_loop
from .train import planned_members, predict_logits


def resolve_device(device: str) -> str:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise TextrnnError(f"device {device!r} asked for, but CUDA is not available here")
    if not (device == "cpu" or device.startswith("cuda")):
        raise TextrnnError(f"unknown device {device!r} (use cpu or cuda)")
    return device


class NotFitted(TextrnnError, NotFittedError):
    """Predicting before ``fit`` or ``load``: scikit-learn's NotFittedError too."""


class TextClassifier(ClassifierMixin, BaseEstimator):
    """A recurrent text classifier built on textrnn's own RNN / GRU cells.

    >>> clf = TextClassifier(model="gru", epochs=5).fit(texts, labels)
    >>> clf.predict(["Parliament votes on the budget"])

    Args:
        model: ``'gru'`` or ``'rnn'``.
        preset: the recipe the other settings start from (``'default'`` or ``'seed'``).
        device: ``'cpu'`` or ``'cuda'``.
        verbose: progress bars and one line per epoch while fitting.
        **settings: any field of :class:`textrnn.Config` by name (the same names as the
            ``textrnn train`` flags). ``None``, the default, keeps the preset's value.

    Attributes (after ``fit`` or ``load``):
        config_: the resolved :class:`Config` the model was trained with.
        classes_: the labels, in the order of ``predict_proba``'s columns.
        tokenizer_, model_: the fitted tokenizer and ``RecurrentClassifier`` (or
            ``Ensemble``).
        members_: how many members ``model_`` holds (``config_.members``, or more on a
            small corpus: ``fill_budget``).
        history_: one dict per epoch (train and val loss and accuracy).
    """

    # scikit-learn's rule: __init__ stores its keyword arguments unchanged and does
    # nothing else; validation happens in fit. The settings' keywords are generated
    # from Config's fields below, so each setting is defined once.
    def __init__(self, model: str = "gru", preset: str = "default", *, device: str = "cpu",
                 verbose: bool = False, **settings) -> None:
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise TextrnnError(f"unknown setting {unknown[0]!r}")  # as a signature would
        self.model, self.preset, self.device, self.verbose = model, preset, device, verbose
        for name in _SETTING_PARAMS:
            setattr(self, name, settings.get(name))

    @classmethod
    def from_config(cls, config: Config, *, device: str = "cpu",
                    verbose: bool = False) -> "TextClassifier":
        """An estimator whose parameters are exactly ``config``."""
        return cls(**config.to_dict(), device=device, verbose=verbose)

    def resolved_config(self) -> Config:
        """The preset with this estimator's settings on top, validated."""
        given = {k: getattr(self, k) for k in _SETTING_PARAMS}
        return preset(self.preset, self.model, **given)

    # -- training --------------------------------------------------------------------
    def fit(self, X: Sequence[str], y: Sequence, X_val: Sequence[str] | None = None,
            y_val: Sequence | None = None, *, classes: Sequence | None = None,
            extra_texts: Sequence[str] = (), checkpoint_dir: str | Path | None = None,
            save_every: int = 0, resume: bool = False) -> "TextClassifier":
        """Train on the texts ``X`` with labels ``y``; early stopping and the choice of
        the epoch kept use ``X_val`` / ``y_val``. Without them, a stratified
        ``val_fraction`` of ``X`` is held out for that (seeded by ``seed``).
        ``classes`` fixes the label order; ``extra_texts`` are fed to the tokenizer
        only, and only under ``tokenizer_fit='all'`` (the seed preset's leak).

        With ``checkpoint_dir``, a checkpoint is saved there at the end of each epoch
        and every ``save_every`` batches (and on SIGINT / SIGTERM, which then raise
        :class:`textrnn.resume.TrainingInterrupted`); ``resume=True`` continues from the
        newest one, if any, and ends with the same weights, bit for bit, as a run never
        interrupted (same data, settings, machine and thread count). Checkpoints stay
        after training: delete the folder when done with it."""
        cfg = self.config_ = self.resolved_config()
        device = resolve_device(self.device)
        checkpoints = (Checkpoints(checkpoint_dir, save_every, resume)
                       if checkpoint_dir is not None else None)
        X, y = _texts(X, "X"), list(y)
        if len(X) != len(y):
            raise TextrnnError(f"{len(X)} texts but {len(y)} labels")
        if len(X) == 0:
            raise TextrnnError("no training texts")
        if (X_val is None) != (y_val is None):
            raise TextrnnError("give both X_val and y_val, or neither")
        if len(present := set(map(_jsonable, y))) < 2:
            raise TextrnnError(f"the training data hold a single class ({present.pop()!r}): "
                               f"a classifier needs at least two")
        self.classes_ = list(classes) if classes is not None else sorted(present)
        if len(self.classes_) < 2:
            raise TextrnnError(f"need at least two classes to classify, got {self.classes_}")
        if X_val is None:
            X, X_val, y, y_val = _hold_out(X, y, cfg.val_fraction, cfg.seed)
        X_val = _texts(X_val, "X_val")
        torch.manual_seed(cfg.seed)
        tok_texts = X + list(extra_texts) if cfg.tokenizer_fit == "all" else X
        self.tokenizer_ = Tokenizer(cfg.num_words, "<oov>" if cfg.oov else None,
                                    min_count=cfg.min_count).fit(tok_texts, self.verbose)
        # the steps a small corpus leaves unused become members (cfg.fill_budget)
        self.members_ = planned_members(cfg, len(X))
        self.model_ = build(self.tokenizer_.vocab_size, len(self.classes_), cfg, self.members_)
        resuming = checkpoints is not None and resume and bool(list_checkpoints(checkpoint_dir))
        if cfg.pretrain == "word2vec" and not resuming:  # the checkpoint has the weights
            from .pretrain import word2vec_init
            # trained once, the same starting vectors for every member
            word2vec_init([m.embedding for m in classifiers(self.model_)], X, self.tokenizer_,
                          cfg.seed, cfg.embedding_init)
        # the training and validation ids live through training: memory-mapped when large
        train = (encode(self.tokenizer_, X, cfg, self.verbose), self._label_ids(y))
        val = (encode(self.tokenizer_, X_val, cfg, self.verbose), self._label_ids(y_val))
        self.history_ = fit_loop(self.model_, cfg, train, val, device, self.verbose, checkpoints)
        return self

    # -- inference -------------------------------------------------------------------
    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """``(len(X), len(classes_))`` class probabilities."""
        self._check_fitted()
        X = _texts(X, "X")
        if len(X) == 0:
            return np.empty((0, len(self.classes_)), dtype=np.float32)
        logits = predict_logits(self.model_, self._encode(X), device=self.device,
                                trim_padding=self.config_.mask)
        return torch.softmax(logits, dim=-1).numpy()

    def predict(self, X: Sequence[str]) -> np.ndarray:
        ids = self.predict_proba(X).argmax(1)
        return np.array([self.classes_[i] for i in ids])

    # -- persistence -------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write config.json, vocab.json and model.safetensors (each atomically)."""
        from safetensors.torch import save_file
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / CONFIG, {"config": self.config_.to_dict(),
                                   "classes": [_jsonable(c) for c in self.classes_],
                                   "vocab_size": self.tokenizer_.vocab_size,
                                   "members_trained": self.members_})
        write_json(path / VOCAB, self.tokenizer_.to_dict())
        state = {k: v.detach().cpu().contiguous() for k, v in self.model_.state_dict().items()}
        write_atomic(path / WEIGHTS, lambda p: save_file(state, str(p)))
        return path

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "TextClassifier":
        """Load a model directory; any missing, corrupt or mismatched file is one error.
        The estimator's parameters are the saved settings."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        path = check_run_dir(path)
        meta = read_json(path / CONFIG)
        try:
            if not isinstance(meta.get("config"), dict):
                raise TextrnnError("'config' is not an object")
            cfg = Config.from_dict(meta["config"])
            classes = meta["classes"]
            if (not isinstance(classes, list) or len(classes) < 2
                    or not all(isinstance(c, (str, int)) for c in classes)
                    or len(set(map(repr, classes))) < len(classes)):
                raise TextrnnError("'classes' is not a list of two or more distinct labels")
            vocab_size = meta["vocab_size"]
            if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
                raise TextrnnError(f"'vocab_size' is not an integer: {vocab_size!r}")
            tokenizer = Tokenizer.from_dict(read_json(path / VOCAB))
            if tokenizer.vocab_size != vocab_size:
                raise TextrnnError(f"{VOCAB} has {tokenizer.vocab_size} token ids, {CONFIG} "
                                   f"says vocab_size {vocab_size}")
            # saved before fill_budget: the configuration's number; fill_budget gives
            # from cfg.members up to MAX_MEMBERS, never more (a bound on what is built)
            members = meta.get("members_trained", cfg.members)
            most = max(cfg.members, MAX_MEMBERS)
            if (not isinstance(members, int) or isinstance(members, bool)
                    or not cfg.members <= members <= most):
                raise TextrnnError(f"'members_trained' must be a whole number from "
                                   f"{cfg.members} to {most}, got {members!r}")
            with torch.device("meta"):  # shapes only: nothing allocated before they match
                model = build(vocab_size, len(classes), cfg, members)
        except TextrnnError as e:
            raise TextrnnError(f"{path}: corrupt run directory ({e})") from None
        except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as e:
            reason = " ".join(str(e).split())[:300]
            raise TextrnnError(f"{path}: corrupt run directory (bad or missing {reason})") from None
        try:
            _check_shapes(path / WEIGHTS, model)  # before allocating what config.json says
            model.load_state_dict(load_file(str(path / WEIGHTS)), assign=True)
            for k, v in model.state_dict().items():
                if v.dtype != torch.float32:
                    raise ValueError(f"{k} is {v.dtype}, expected float32")
        except (SafetensorError, OSError, RuntimeError, ValueError) as e:
            reason = " ".join(str(e).split())  # torch lists each mismatch on its own line
            reason = reason if len(reason) <= 300 else reason[:297] + "..."
            raise TextrnnError(f"{path / WEIGHTS}: corrupt or mismatched weights ({reason})") from None
        self = cls.from_config(cfg, device=device)
        self.config_, self.classes_, self.tokenizer_, self.history_ = cfg, classes, tokenizer, []
        self.members_ = members
        self.model_ = model.to(resolve_device(device))
        return self

    # -- helpers -----------------------------------------------------------------------
    def _encode(self, texts: list[str]) -> torch.Tensor:
        return torch.from_numpy(self.tokenizer_.ids_for(texts, self.config_, self.verbose))

    def _label_ids(self, labels: Sequence) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.classes_)}
        try:
            return torch.tensor([index[_jsonable(y)] for y in labels], dtype=torch.long)
        except KeyError as e:
            raise TextrnnError(f"label {e.args[0]!r} is not one of the classes "
                               f"{self.classes_}") from None

    def _check_fitted(self) -> None:
        if getattr(self, "model_", None) is None:
            raise NotFitted("this TextClassifier is not fitted yet: call fit() or load()")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # a list of strings, not a feature matrix
        tags.input_tags.string = True
        tags.non_deterministic = self.device != "cpu"  # CUDA kernels may reorder sums
        return tags


# The settings' keyword parameters, generated from Config's fields: scikit-learn reads
# an estimator's parameters from its __init__ signature (get_params, clone, repr).
_SETTING_PARAMS = tuple(s for s in SETTINGS if s not in ("model", "preset"))
_init = inspect.signature(TextClassifier.__init__)
TextClassifier.__init__.__signature__ = _init.replace(parameters=[
    *[p for p in _init.parameters.values() if p.kind != p.VAR_KEYWORD],
    *[inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None)
      for name in _SETTING_PARAMS]])
TextClassifier.__init__.__doc__ = "Settings (None: the preset's value):\n" + "\n".join(
    f"    {name}: {help_text(name)}" for name in _SETTING_PARAMS)


def _texts(X, name: str) -> list[str]:
    """A sequence of strings as a list; one string alone is a common slip."""
    if isinstance(X, str):
        raise TextrnnError(f"{name}: expected a list of texts, got one string")
    X = list(X)
    bad = next((i for i, t in enumerate(X) if not isinstance(t, str)), None)
    if bad is not None:
        raise TextrnnError(f"{name}[{bad}]: expected a text (str), got {type(X[bad]).__name__}")
    return X


def held_out_size(n: int, fraction: float) -> int:
    """How many of ``n`` training texts ``fit`` holds out as val without val data:
    ``fraction`` of them, at least one on each side."""
    return min(max(1, round(fraction * n)), n - 1)


def _hold_out(X: list[str], y: list, fraction: float, seed: int):
    """Split a validation part off the training texts: stratified when every class has
    at least two texts, else at random; at least one text on each side."""
    n_val = held_out_size(len(X), fraction)
    if n_val < 1:
        raise TextrnnError("need at least two training texts to hold out a validation part")
    counts = np.unique(np.asarray([str(v) for v in y]), return_counts=True)[1]
    stratify = y if counts.min() >= 2 and n_val >= len(counts) else None
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=n_val, random_state=seed,
                                                stratify=stratify)
    return list(X_tr), list(X_val), list(y_tr), list(y_val)


def _check_shapes(path: Path, model: torch.nn.Module) -> None:
    """The tensors in ``path`` have the names and shapes of ``model``'s (built on the meta
    device): read from the file's header alone, so a config.json asking for a huge model
    fails here instead of allocating it."""
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as f:
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if shapes != expected:
        diff = sorted(k for k in shapes.keys() | expected.keys()
                      if shapes.get(k) != expected.get(k))
        raise ValueError("size mismatch: " + "; ".join(
            f"{k} is {shapes.get(k)} in the file, {expected.get(k)} in the model"
            for k in diff[:3]))


def _jsonable(v):
    """numpy scalars to Python ones, so labels round-trip through JSON unchanged."""
    return v.item() if isinstance(v, np.generic) else v
