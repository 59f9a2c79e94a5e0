"""hf-unlearn: machine unlearning for speech and audio models in the Hugging Face ecosystem.

The public names below are imported on first use (PEP 562), so `import hf_unlearn` and `hf-unlearn --help` stay fast:
torch, transformers, datasets, evaluate and peft load only when a name that needs them is used. The first use of a
trainer, config, method, data or model name also imports `hf_unlearn.models` (which registers the MFCC CNN with the
transformers Auto classes) and, for trainer and method names, `hf_unlearn.methods` (which registers every method).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from hf_unlearn.version import __version__

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time `__getattr__` imports these on first use
    from hf_unlearn.data import ForgetSplits, make_forget_split
    from hf_unlearn.hub.privacy import ForgetRequest, verify_request_digest
    from hf_unlearn.peft_utils import lora_config_for
    from hf_unlearn.trainer.config import UnlearningConfig
    from hf_unlearn.trainer.registry import MethodInfo, get_trainer_class, list_methods
    from hf_unlearn.trainer.trainer import UnlearningTrainer

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
]

# The built-in methods: module of `hf_unlearn.methods` -> (config class, trainer class). The one list of them:
# `hf_unlearn.methods` imports these modules (defining each trainer class registers its method) and exports the
# classes, and this package re-exports them lazily. A new built-in method adds its line here (see CONTRIBUTING.md).
BUILT_IN_METHODS = {
    "bad_teaching": ("BadTeachingConfig", "BadTeachingTrainer"),
    "bad_teaching_lite": ("BadTeachingLiteConfig", "BadTeachingLiteTrainer"),
    "cf_k": ("CFkConfig", "CFkTrainer"),
    "eu_k": ("EUkConfig", "EUkTrainer"),
    "finetune": ("FinetuneConfig", "FinetuneTrainer"),
    "gradient_ascent": ("GradientAscentConfig", "GradientAscentTrainer"),
    "l1_sparse": ("L1SparseConfig", "L1SparseTrainer"),
    "neggrad_plus": ("NegGradPlusConfig", "NegGradPlusTrainer"),
    "npo": ("NPOConfig", "NPOTrainer"),
    "random_labels": ("RandomLabelsConfig", "RandomLabelsTrainer"),
    "reset_perturb": ("ResetPerturbConfig", "ResetPerturbTrainer"),
    "salun": ("SalUnConfig", "SalUnTrainer"),
    "scrub": ("SCRUBConfig", "SCRUBTrainer"),
    "unsir": ("UNSIRConfig", "UNSIRTrainer"),
}
_METHOD_NAMES = [name for names in BUILT_IN_METHODS.values() for name in names]
__all__ += _METHOD_NAMES

# Public name -> the module that defines it.
_LAZY_NAMES = {
    "UnlearningConfig": "hf_unlearn.trainer.config",
    "UnlearningTrainer": "hf_unlearn.trainer.trainer",
    "ForgetSplits": "hf_unlearn.data",
    "make_forget_split": "hf_unlearn.data",
    "MethodInfo": "hf_unlearn.trainer.registry",
    "get_trainer_class": "hf_unlearn.trainer.registry",
    "list_methods": "hf_unlearn.trainer.registry",
    "lora_config_for": "hf_unlearn.peft_utils",
    "ForgetRequest": "hf_unlearn.hub.privacy",
    "verify_request_digest": "hf_unlearn.hub.privacy",
    **{name: "hf_unlearn.methods" for name in _METHOD_NAMES},
}
# Names that need neither the Auto-class registration nor the methods (light modules).
_LIGHT_NAMES = {"ForgetRequest", "verify_request_digest"}
# Names whose users expect every built-in method to be registered (e.g. `UnlearningTrainer(method="scrub")`).
_NEEDS_METHODS = {"UnlearningTrainer", "MethodInfo", "get_trainer_class", "list_methods", *_METHOD_NAMES}


def __getattr__(name: str):
    module_name = _LAZY_NAMES.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _LIGHT_NAMES:
        importlib.import_module("hf_unlearn.models")  # registers the MFCC CNN with the transformers Auto classes
    if name in _NEEDS_METHODS:
        importlib.import_module("hf_unlearn.methods")  # defining each method's trainer class registers it
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later uses skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_checkpoint(source: str, **kwargs):
    """Loads an unlearned or UnSLU-style checkpoint (or PEFT adapter) by repo id or path
    (`hf_unlearn.hub.loading`)."""
    from hf_unlearn.hub.loading import load_checkpoint as _load

    return _load(source, **kwargs)


def load_gold_model(source: str, **kwargs):
    """Loads a gold model and its results, the reference of GUM/CGUM
    (`hf_unlearn.experiment.reference_training`)."""
    from hf_unlearn.experiment.reference_training import load_gold_model as _load

    return _load(source, **kwargs)


def load_metric(name: str = "unlearning", **kwargs):
    """`evaluate.load` of an evaluate module shipped with hf-unlearn (offline), e.g. `load_metric("unlearning")`."""
    from hf_unlearn.metrics import load_metric as _load

    return _load(name, **kwargs)
