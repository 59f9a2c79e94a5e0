"""Evaluate modules shipped with hf-unlearn, loadable offline with `evaluate.load(metric_path(name))`.

Each module lives in `hf_unlearn/metrics/<name>/` (`<name>.py`, a `README.md` metric card, `requirements.txt`) and is
a thin wrapper over `hf_unlearn.evaluation`: `evaluate.load` copies the script alone into its modules cache and
imports it from there, so the script imports the maths from the installed package instead of carrying a copy.
"""

from __future__ import annotations

import os

__all__ = ["METRICS_DIR", "available_metrics", "load_metric", "metric_path"]

#: The folder holding one sub-folder per evaluate module.
METRICS_DIR = os.path.dirname(os.path.abspath(__file__))


def available_metrics() -> list[str]:
    """Names of the evaluate modules shipped with hf-unlearn (sub-folders holding `<name>/<name>.py`)."""
    return sorted(
        name for name in os.listdir(METRICS_DIR) if os.path.isfile(os.path.join(METRICS_DIR, name, f"{name}.py"))
    )


def metric_path(name: str) -> str:
    """Local folder of the evaluate module `name`, to pass to `evaluate.load`.

    Args:
        name (`str`):
            Module name, e.g. `"unlearning"`.

    Returns:
        `str`: the absolute path of `hf_unlearn/metrics/<name>`.

    Raises:
        `ValueError`: if no such module is shipped, listing the available names.
    """
    available = available_metrics()
    if name not in available:
        raise ValueError(f"Unknown hf-unlearn metric {name!r}; available: {', '.join(available)}.")
    return os.path.join(METRICS_DIR, name)


def load_metric(name: str = "unlearning", **kwargs):
    """`evaluate.load` of a module shipped with hf-unlearn, from its local folder (no Hub access).

    Args:
        name (`str`, *optional*, defaults to `"unlearning"`):
            Module name.
        **kwargs:
            Passed to `evaluate.load` (e.g. `keep_in_memory=True`, `cache_dir=...`).

    Returns:
        `evaluate.EvaluationModule`: the loaded module.

    Raises:
        `ValueError`: if no such module is shipped, listing the available names.
    """
    path = metric_path(name)
    # Imported here so that `import hf_unlearn` does not pay for evaluate (and datasets) until a module is loaded.
    import evaluate

    return evaluate.load(path, **kwargs)
