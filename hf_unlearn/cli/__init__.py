"""The `hf-unlearn` console script (`main.py`) and its front ends: `unlearn` (`unlearn.py`, one forget request on your
data), `tune` (`tune.py`, a method's settings tuned on your request, validation only), the demo (`demo.py`,
`demo_settings.py`) and the stdlib parser built from argument dataclasses (`dataclass_options.py`).
`python -m hf_unlearn.cli ...` (and `accelerate launch -m hf_unlearn.cli ...`) is the same as `hf-unlearn ...`."""

from hf_unlearn.cli.main import main

__all__ = ["main"]
