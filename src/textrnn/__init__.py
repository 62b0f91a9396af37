"""textrnn: recurrent text classifiers (vanilla RNN and GRU) written from their equations.

The public names are imported on first use (PEP 562), so that the parts that need no
PyTorch (the tokenizer, ``textrnn.onnx_backend``, ``textrnn predict --backend onnx``)
import without it.
"""

from importlib import import_module

_EXPORTS = {
    "TextClassifier": "api", "GRUCell": "cells", "VanillaRNNCell": "cells",
    "Config": "config", "preset": "config", "Dataset": "data", "load_dataset": "data",
    "split": "data", "corpus_splits": "data", "TextrnnError": "errors", "GRU": "layers",
    "RNN": "layers",
    "lengths_to_mask": "layers", "RecurrentClassifier": "model", "Tokenizer": "tokenizer",
    "pad_sequences": "tokenizer",
}

__version__ = "0.1.0"
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'textrnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
