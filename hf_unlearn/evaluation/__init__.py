"""The evaluation maths of hf-unlearn, as plain NumPy / scikit-learn functions.

Called both by `UnlearningTrainer.evaluate()` and by the `unlearning` evaluate module (`hf_unlearn/metrics/`). This
package imports neither torch, transformers nor evaluate, so that the evaluate module stays thin and the numbers can
be recomputed from saved predictions and losses anywhere.

Forgetting means behaving like the gold model (retrained without the forget set), not reaching zero forget accuracy
or an MIA of 0.5: compare with the gold model wherever one exists.
"""

from .gum import EPS, GUMResult, cgum, gum, gum_undefined_reason, speedup
from .kl import kl_divergence, mean_kl_to_gold
from .lira import LiRAResult, lira, lira_scores, logit_scaled_confidence
from .metric_table import METRICS, MetricSpec, metric
from .mia import MIN_SAMPLES_PER_CLASS, MIAResult, mia
from .outputs import load_results, metrics_from_outputs
from .report import results_figure, results_table
from .signals import check_finite, confidence, entropy, log_softmax, per_sample_cross_entropy
from .subsets import gaps_to_gold, subset_metrics
from .unlearning_metrics import unlearning_metrics

__all__ = [
    "EPS",
    "GUMResult",
    "LiRAResult",
    "METRICS",
    "MIAResult",
    "MIN_SAMPLES_PER_CLASS",
    "MetricSpec",
    "cgum",
    "check_finite",
    "confidence",
    "entropy",
    "gaps_to_gold",
    "gum",
    "gum_undefined_reason",
    "kl_divergence",
    "lira",
    "lira_scores",
    "load_results",
    "log_softmax",
    "logit_scaled_confidence",
    "mean_kl_to_gold",
    "metric",
    "metrics_from_outputs",
    "mia",
    "per_sample_cross_entropy",
    "results_figure",
    "results_table",
    "speedup",
    "subset_metrics",
    "unlearning_metrics",
]
