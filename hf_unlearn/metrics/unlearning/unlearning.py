"""Machine-unlearning metrics: split accuracy and macro-F1, loss-based MIAs, LiRA, KL to gold, GUM and CGUM.

A thin `evaluate` wrapper over `hf_unlearn.evaluation.unlearning_metrics`: every number is computed there, so this
module and `UnlearningTrainer.evaluate()` agree exactly. Inputs are one row per sample: its prediction, reference,
per-sample cross-entropy and the split it belongs to (`"forget"`, `"retain"`, `"test"`, or any other name).

Examples:

    Load the module from its local folder (no Hub access) and score a model that still remembers its forget set:

    >>> import evaluate
    >>> from hf_unlearn.metrics import metric_path
    >>> unlearning = evaluate.load(metric_path("unlearning"))
    >>> rows = dict(
    ...     predictions=[0, 1, 2, 0, 1, 2, 0, 1, 0, 1, 0, 1, 2, 0, 1, 2, 0, 1, 2, 2],
    ...     references=[0, 1, 2, 0, 1, 2, 0, 1, 0, 1, 0, 1, 2, 0, 1, 2, 1, 2, 0, 1],
    ...     losses=[0.02, 0.05, 0.03, 0.04, 0.01, 0.06, 0.02, 0.03, 0.2, 0.3,
    ...             0.9, 1.1, 0.8, 1.3, 1.0, 0.7, 2.1, 2.4, 1.9, 2.2],
    ...     splits=["forget"] * 8 + ["retain"] * 2 + ["test"] * 10,
    ... )
    >>> results = unlearning.compute(**rows)
    >>> for key, value in results.items():
    ...     print(f"{key}: {value:.3f}")
    forget_accuracy: 1.000
    forget_f1: 1.000
    retain_accuracy: 1.000
    retain_f1: 1.000
    test_accuracy: 0.600
    test_f1: 0.603
    mia: 1.000
    mia_auc: 1.000
    forgetting_score: 0.500

    With the original and gold models' results and the unlearning time (seconds), GUM, CGUM, the speed-up and the
    gaps to the gold model are added (`original` and `gold` may also be paths to JSON files):

    >>> results = unlearning.compute(
    ...     **rows,
    ...     original={"mia": 1.0},
    ...     gold={"test_f1": 0.65, "forget_f1": 0.7, "mia": 0.6, "train_time": 600.0},
    ...     unlearning_time=30.0,
    ...     num_classes=3,
    ... )
    >>> print({key: round(results[key], 3) for key in ["gum", "cgum", "speedup", "mia_minus_gold"]})
    {'gum': 0.0, 'cgum': 0.0, 'speedup': 20.0, 'mia_minus_gold': 0.4}

    The MIA equals the original model's (1.0), so nothing was forgotten: the efficacy terms `gum_E` and `cgum_E` are
    0, and so are GUM and CGUM however fast and accurate the model is.

    With held-out recordings of the request (split `forget_test`), the held-out MIA is added. When the gold model's
    MIA is not below the original's, GUM and CGUM cannot measure forgetting and are `None`, with the reason:

    >>> results = unlearning.compute(
    ...     predictions=[0, 1, 2, 0, 1, 2, 0, 1, 0, 1, 2, 0, 1, 2, 0, 1, 0, 1, 2, 0, 1, 2, 0, 1, 2, 2],
    ...     references=[0, 1, 2, 0, 1, 2, 0, 1, 0, 1, 2, 0, 1, 2, 0, 1, 0, 1, 2, 0, 1, 2, 1, 2, 0, 1],
    ...     losses=[0.02, 0.05, 0.03, 0.04, 0.01, 0.06, 0.02, 0.03, 0.5, 0.7, 0.6, 0.9, 0.4, 0.8,
    ...             0.9, 1.1, 0.8, 1.3, 1.0, 0.7, 2.1, 2.4, 1.9, 2.2, 1.2, 0.6],
    ...     splits=["forget"] * 8 + ["forget_test"] * 6 + ["test"] * 12,
    ...     original={"mia": 0.55},
    ...     gold={"test_f1": 0.65, "mia": 0.95, "train_time": 600.0},
    ...     unlearning_time=30.0,
    ... )
    >>> round(results["mia_heldout"], 3), results["gum"]
    (1.0, None)
    >>> print(results["gum_undefined_reason"].split(", so")[0])
    GUM/CGUM undefined: the gold model's MIA (0.950) is not below the original's (0.550)
"""

import datasets
import evaluate

from hf_unlearn.evaluation import unlearning_metrics

_CITATION = """\
@inproceedings{koudounas2025unslu,
  title     = {"Alexa, can you forget me?" Machine Unlearning Benchmark on Spoken Language Understanding},
  author    = {Koudounas, Alkis and Savelli, Claudio and Giobergia, Flavio and Baralis, Elena},
  booktitle = {Proc. Interspeech 2025},
  year      = {2025}
}
@misc{triantafillou2024progress,
  title  = {Are we making progress in unlearning? Findings from the first NeurIPS unlearning competition},
  author = {Triantafillou, Eleni and others},
  year   = {2024},
  note   = {NeurIPS 2023 Machine Unlearning Challenge, https://unlearning-challenge.github.io/}
}
"""

_DESCRIPTION = """\
Machine-unlearning evaluation of a classifier in the UnSLU-BENCH protocol: accuracy and macro-F1 on each split
(forget, retain, test), a loss-based membership-inference attack (MIA) of forget against test samples and of forget
against held-out recordings of the request (forget_test), and, given the results of the original and gold (retrained
without the forget set) models, the GUM and CGUM scores (undefined when the gold model's MIA is not below the
original's), the speed-up over retraining and the gaps to the gold model. With per-sample logits, the KL divergence
from the gold model and a per-example likelihood-ratio attack (offline LiRA, with shadow models' logits). Forgetting
means "like the gold model": forget accuracy, forget F1 and the MIAs are best when closest to the gold model's values,
not when lowest.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted class of each sample.
    references (`list` of `int`): true class of each sample.
    losses (`list` of `float`): per-sample cross-entropy of the model (e.g.
        `hf_unlearn.evaluation.per_sample_cross_entropy(logits, labels)`).
    splits (`list` of `str`): split of each sample: "forget", "forget_test" (held-out recordings of the request),
        "retain", "test" or another name (scored alone).
    logits (`list` of `list` of `float`, *optional*): the model's logits per sample, for `gold_logits` and
        `shadow_logits`.
    original (`dict` or `str`, *optional*): the original model's results (uses "mia"), or a path to a JSON file.
    gold (`dict` or `str`, *optional*): the gold model's results (uses "test_f1", "mia", "train_time" in seconds,
        and any split metric for the gaps), or a path to a JSON file.
    unlearning_time (`float`, *optional*): wall-clock time of the unlearning run, in seconds.
    num_classes (`int`, *optional*): number of classes of the task, for CGUM.
    mia_seed (`int`, *optional*, defaults to 42): seed of the MIAs' subsampling of the larger of their two sets.
    gold_logits (`dict`, *optional*): the gold model's logits `(num_samples, num_classes)` per split name, rows in
        the order of that split's samples; needs `logits`.
    shadow_logits (`dict`, *optional*): logits `(num_shadows, num_samples, num_classes)` of K >= 2 models trained
        without the forget set, on "forget" and on "forget_test" (or "test"); needs `logits`.

Returns:
    `dict` with, when their inputs are given (a key is left out rather than set to NaN):
    `<split>_accuracy`, `<split>_f1` (0 to 1; test/retain higher is better, forget closest to gold is better),
    `mia` (0 to 1, closest to gold is better), `mia_auc` (0 to 1, closest to gold), `forgetting_score` (|0.5 - mia|),
    `mia_heldout`, `mia_heldout_auc` (0 to 1, closest to gold), `lira_auc`, `lira_tpr_at_1fpr`, `lira_tpr_at_5fpr`
    (0 to 1, closest to gold), `kl_to_gold`, `kl_to_gold_<split>` (>= 0, lower is better),
    `gum`, `gum_U`, `gum_E`, `gum_T`, `cgum`, `cgum_U`, `cgum_E`, `cgum_T` (higher is better; `gum`, `cgum` and
    their `_E` are None, with `gum_undefined_reason`, when the gold model's MIA is not below the original's),
    `speedup` (gold retraining time / unlearning time, higher is better), `time_share_of_gold` (lower is better),
    `<key>_minus_gold` (closest to 0 is better). See the metric card (README.md) for the formulas.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Unlearning(evaluate.Metric):
    """Split metrics, MIA, GUM and CGUM of an unlearned classifier (UnSLU-BENCH)."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            # Two input formats: without and with per-sample logits (evaluate picks the one the inputs match).
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Value("int64"),
                        "references": datasets.Value("int64"),
                        "losses": datasets.Value("float64"),
                        "splits": datasets.Value("string"),
                    }
                ),
                datasets.Features(
                    {
                        "predictions": datasets.Value("int64"),
                        "references": datasets.Value("int64"),
                        "losses": datasets.Value("float64"),
                        "splits": datasets.Value("string"),
                        "logits": datasets.Sequence(datasets.Value("float64")),
                    }
                ),
            ],
            reference_urls=["https://arxiv.org/abs/2505.15700", "https://unlearning-challenge.github.io/"],
        )

    def _compute(
        self,
        predictions,
        references,
        losses,
        splits,
        logits=None,
        original=None,
        gold=None,
        unlearning_time=None,
        num_classes=None,
        mia_seed=42,
        gold_logits=None,
        shadow_logits=None,
    ):
        if (gold_logits is not None or shadow_logits is not None) and logits is None:
            raise ValueError("gold_logits and shadow_logits need the model's own per-sample logits: pass logits=.")
        split_predictions, split_labels, split_losses, split_logits = {}, {}, {}, {}
        # Group the flat rows by split, keeping the order in which splits first appear.
        for index, (prediction, reference, loss, split) in enumerate(zip(predictions, references, losses, splits)):
            split_predictions.setdefault(split, []).append(prediction)
            split_labels.setdefault(split, []).append(reference)
            split_losses.setdefault(split, []).append(loss)
            if logits is not None:
                split_logits.setdefault(split, []).append(logits[index])
        return unlearning_metrics(
            split_predictions,
            split_labels,
            split_losses,
            original=original,
            gold=gold,
            unlearning_time=unlearning_time,
            num_classes=num_classes,
            mia_seed=mia_seed,
            split_logits=split_logits or None,
            gold_logits=gold_logits,
            shadow_logits=shadow_logits,
        )
