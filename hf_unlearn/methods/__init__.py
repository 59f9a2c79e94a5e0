"""Built-in unlearning methods, one file per method: importing this package registers each one.

The list of built-in methods is `hf_unlearn.BUILT_IN_METHODS` (module -> config and trainer class names); this package
imports those modules and exports their classes, and `hf_unlearn` re-exports them lazily. The registry's listing
functions are re-exported here, so that `from hf_unlearn.methods import list_methods` always sees every built-in.
"""

import importlib

from hf_unlearn import BUILT_IN_METHODS
from hf_unlearn.trainer.registry import MethodInfo, get_trainer_class, list_methods, methods_markdown  # noqa: F401

__all__ = [name for names in BUILT_IN_METHODS.values() for name in names]

for _module_name, _class_names in BUILT_IN_METHODS.items():
    _module = importlib.import_module(f"hf_unlearn.methods.{_module_name}")
    globals().update({name: getattr(_module, name) for name in _class_names})

del _module, _module_name, _class_names
