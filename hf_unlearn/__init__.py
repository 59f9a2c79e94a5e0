"""hf-unlearn: machine unlearning for speech and audio models in the Hugging Face ecosystem."""

__version__ = "0.1.0"

from hf_unlearn import models  # noqa: F401  (registers the MFCC CNN with the Auto classes)
from hf_unlearn.config import UnlearningConfig
from hf_unlearn.data import ForgetSplits, make_forget_split
from hf_unlearn.methods import *  # noqa: F401,F403  (registers the built-in methods)
from hf_unlearn.methods import __all__ as _method_names
from hf_unlearn.peft_utils import lora_config_for
from hf_unlearn.privacy import ForgetRequest, verify_request_digest
from hf_unlearn.registry import MethodInfo, get_trainer_class, list_methods
from hf_unlearn.trainer import UnlearningTrainer


def load_checkpoint(source: str, **kwargs):
    """Loads an unlearned or UnSLU-style checkpoint (or PEFT adapter) by repo id or path: see `hf_unlearn.hub`."""
    from hf_unlearn.hub import load_checkpoint as _load

    return _load(source, **kwargs)


def load_gold_model(source: str, **kwargs):
    """Loads a gold model and its results, the reference of GUM/CGUM: see `hf_unlearn.hub.load_gold_model`."""
    from hf_unlearn.hub import load_gold_model as _load

    return _load(source, **kwargs)


def load_metric(name: str = "unlearning", **kwargs):
    """`evaluate.load` of an evaluate module shipped with hf-unlearn (offline), e.g. `load_metric("unlearning")`."""
    from hf_unlearn.metrics import load_metric as _load

    return _load(name, **kwargs)


__all__ = [
    "__version__",
    "UnlearningConfig",
    "UnlearningTrainer",
    "ForgetRequest",
    "ForgetSplits",
    "make_forget_split",
    "MethodInfo",
    "get_trainer_class",
    "list_methods",
    "load_checkpoint",
    "load_gold_model",
    "load_metric",
    "verify_request_digest",
    "lora_config_for",
    *_method_names,
]
