"""hf-unlearn: machine unlearning for speech and audio models in the Hugging Face ecosystem."""

__version__ = "0.1.0"

from hf_unlearn import models  # noqa: F401  (registers the MFCC CNN with the Auto classes)
from hf_unlearn.config import UnlearningConfig
from hf_unlearn.data import ForgetSplits, make_forget_split
from hf_unlearn.methods import *  # noqa: F401,F403  (registers the built-in methods)
from hf_unlearn.methods import __all__ as _method_names
from hf_unlearn.registry import MethodInfo, get_trainer_class, list_methods
from hf_unlearn.trainer import UnlearningTrainer


def load_metric(name: str = "unlearning", **kwargs):
    """`evaluate.load` of an evaluate module shipped with hf-unlearn (offline), e.g. `load_metric("unlearning")`."""
    from hf_unlearn.metrics import load_metric as _load

    return _load(name, **kwargs)


__all__ = [
    "__version__",
    "UnlearningConfig",
    "UnlearningTrainer",
    "ForgetSplits",
    "make_forget_split",
    "MethodInfo",
    "get_trainer_class",
    "list_methods",
    "load_metric",
    *_method_names,
]
