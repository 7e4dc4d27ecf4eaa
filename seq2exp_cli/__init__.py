"""seq2exp: predict gene expression from sequence and chromatin, and call the elements that drive it.

The Python API (``seq2exp_cli.api``, docs/api.md) is importable from here; it loads on first
use, so ``import seq2exp_cli`` stays light (no torch, no pandas):

    from seq2exp_cli import prepare_dataset, train, predict, call_elements, write_elements
"""

__version__ = "0.1.0"

__all__ = ["call_elements", "predict", "prepare_dataset", "resolve_settings", "train", "write_elements"]


def __getattr__(name: str):
    if name in ("call_elements", "predict", "prepare_dataset", "train", "write_elements"):
        from seq2exp_cli import api

        return getattr(api, name)
    if name == "resolve_settings":
        from seq2exp_cli.train_settings import resolve_settings

        return resolve_settings
    raise AttributeError(f"module 'seq2exp_cli' has no attribute {name!r}")
