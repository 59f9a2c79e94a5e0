"""One unlearning request end to end: reference models (one cache), unlearning, evaluation and results.

The demo (`hf-unlearn demo`), the recipe (`recipes/unlearn_audio_classification.py`) and the benchmark
(`hf_unlearn.benchmark`) all run requests through this package:

```python
from hf_unlearn.experiment import (
    ReferenceSpec, fit_extractor, method_settings, reference_defaults, reference_models, run_request, write_results,
)

spec = ReferenceSpec(label_names=names, model_type="mfcc_cnn", training=reference_defaults("mfcc_cnn"))
extractor = fit_extractor(spec.new_extractor(sampling_rate=8000), training_rows)   # training rows only
references = reference_models(splits, spec, extractor, seed=0, shadow_models=4)  # original, gold, shadows (cached)
record = run_request("scrub", method_settings("scrub", "fsdd", splits.kind), splits, extractor, references,
                     seed=0, output_dir="runs/scrub")
write_results(record, "runs/scrub")
```

- `defaults`: per-model-type reference training defaults and the one home of per-method unlearning settings
  (`settings/<dataset>.json`).
- `references`: the original (one per data, seed and settings: it serves every request), gold (per request) and
  shadow models (gold recipe, other seeds), trained once and cached under one root with one key scheme.
- `run`: one unlearning run from the original's folder (never written to), evaluated with the original, gold and
  shadow models on every split.
- `results`: JSON, Markdown, figure for one run or a list of runs.
- `arguments`, `data`: the command-line arguments and data loading shared by the recipe and the benchmark.
"""

from .defaults import (
    REFERENCE_DEFAULTS,
    SETTINGS_DIR,
    available_settings,
    method_settings,
    model_family,
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
    parse_config_overrides,
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
