"""One unlearning request end to end: reference models (one cache), unlearning, evaluation and results.

The demo (`hf-unlearn demo`), the command `hf-unlearn unlearn` (and `hf-unlearn tune`) and the benchmark
(`hf_unlearn.benchmark`) all run requests through this package:

```python
from hf_unlearn.experiment import (
    ReferenceSpec, fit_extractor, method_settings, reference_defaults, reference_models, run_request, write_results,
)

spec = ReferenceSpec(label_names=names, model_type="mfcc_cnn", training=reference_defaults("mfcc_cnn"))
extractor = fit_extractor(spec.new_extractor(sampling_rate=8000), training_rows)   # training rows only
references = reference_models(splits, spec, extractor, seed=0, shadow_models=4)  # original, gold, shadows (cached)
record = run_request("scrub", method_settings("scrub", "fsdd", splits.request_kind), splits, extractor, references,
                     seed=0, output_dir="runs/scrub")
write_results(record, "runs/scrub")
```

- `defaults`: per-model-type reference training defaults, the reference-training options every front end shares
  (`ReferenceTrainingArguments`), and the one home of per-method unlearning settings (`settings/<dataset>.json`).
- `references`: the original (one per data, seed and settings: it serves every request), gold (per request) and
  shadow models (gold recipe, other seeds), trained once and cached under one root with one key scheme.
- `run`: one unlearning run from the original's folder (never written to), evaluated with the original, gold and
  shadow models on every split.
- `results`: JSON, Markdown, figure for one run or a list of runs.
- `reference_quality`: the warning for a weak original (chance-adjusted retain-validation accuracy below a bar).
- `arguments`, `data`: the command-line arguments and data loading shared by the recipe and the benchmark.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time `__getattr__` imports these on first use
    from .defaults import (
        REFERENCE_DEFAULTS,
        SETTINGS_DIR,
        ReferenceTrainingArguments,
        available_settings,
        method_settings,
        model_family,
        parse_config_overrides,
        reference_defaults,
    )
    from .reference_cache import (
        REFERENCE_INFO_NAME,
        ReferenceModel,
        ReferenceSpec,
        cache_root,
        check_reference_agreement,
        dead_units_share,
        existing_reference,
        fit_extractor,
        predict_splits,
        reference_key,
        reference_model,
        reference_models,
    )
    from .results import write_results
    from .run import evaluate_references, run_request

__all__ = [
    "REFERENCE_DEFAULTS",
    "REFERENCE_INFO_NAME",
    "ReferenceModel",
    "ReferenceSpec",
    "ReferenceTrainingArguments",
    "SETTINGS_DIR",
    "available_settings",
    "cache_root",
    "check_reference_agreement",
    "dead_units_share",
    "evaluate_references",
    "existing_reference",
    "fit_extractor",
    "method_settings",
    "model_family",
    "parse_config_overrides",
    "predict_splits",
    "reference_defaults",
    "reference_key",
    "reference_model",
    "reference_models",
    "run_request",
    "write_results",
]

# Public name -> its module. Lazy, so that the front ends' argument dataclasses can read `defaults` (stdlib only)
# without importing torch (`hf-unlearn benchmark --help` stays light).
_MODULES = {
    **dict.fromkeys(
        ("REFERENCE_DEFAULTS", "SETTINGS_DIR", "ReferenceTrainingArguments", "available_settings", "method_settings",
         "model_family", "parse_config_overrides", "reference_defaults"),
        "defaults",
    ),
    **dict.fromkeys(
        ("REFERENCE_INFO_NAME", "ReferenceModel", "ReferenceSpec", "cache_root", "check_reference_agreement",
         "dead_units_share", "existing_reference", "fit_extractor", "predict_splits", "reference_key",
         "reference_model", "reference_models"),
        "reference_cache",
    ),
    "write_results": "results",
    "evaluate_references": "run",
    "run_request": "run",
}  # fmt: skip


def __getattr__(name: str):
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    globals()[name] = value  # later uses skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
