"""Machine-unlearning metrics of UnSLU-BENCH: split accuracy and macro-F1, loss-based MIA, GUM and CGUM.

A thin `evaluate` wrapper over `hf_unlearn.evaluation.unlearning_metrics`: every number is computed there, so this
module and `UnlearningTrainer.evaluate()` agree exactly. Inputs are one row per sample: its prediction, reference,
per-sample cross-entropy and the split it belongs to (`"forget"`, `"retain"`, `"test"`, or any other name).

Examples:

    Load the module from its local folder (no Hub access) and score a model that still remembers its forget set:

    >>> import evaluate
    >>> from hf_unlearn.metrics import metric_path
    >>> unlearning = evaluate.load(metric_path("unlearning"))
    >>> results = unlearning.compute(
    ...     predictions=[0, 1, 2, 0, 1, 2, 0, 1, 0, 1, 0, 1, 2, 0, 1, 2, 0, 1, 2, 2],
    ...     references=[0, 1, 2, 0, 1, 2, 0, 1, 0, 1, 0, 1, 2, 0, 1, 2, 1, 2, 0, 1],
    ...     losses=[0.02, 0.05, 0.03, 0.04, 0.01, 0.06, 0.02, 0.03, 0.2, 0.3,
    ...             0.9, 1.1, 0.8, 1.3, 1.0, 0.7, 2.1, 2.4, 1.9, 2.2],
    ...     splits=["forget"] * 8 + ["retain"] * 2 + ["test"] * 10,
    ... )
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
    ...     predictions=[0, 1, 2, 0, 1, 2, 0, 1, 0, 1, 0, 1, 2, 0, 1, 2, 0, 1, 2, 2],
    ...     references=[0, 1, 2, 0, 1, 2, 0, 1, 0, 1, 0, 1, 2, 0, 1, 2, 1, 2, 0, 1],
    ...     losses=[0.02, 0.05, 0.03, 0.04, 0.01, 0.06, 0.02, 0.03, 0.2, 0.3,
    ...             0.9, 1.1, 0.8, 1.3, 1.0, 0.7, 2.1, 2.4, 1.9, 2.2],
    ...     splits=["forget"] * 8 + ["retain"] * 2 + ["test"] * 10,
    ...     original={"mia": 1.0},
    ...     gold={"test_f1": 0.65, "forget_f1": 0.7, "mia": 0.6, "train_time": 600.0},
    ...     unlearning_time=30.0,
    ...     num_classes=3,
    ... )
    >>> print({key: round(results[key], 3) for key in ["gum", "cgum", "speedup", "mia_minus_gold"]})
    {'gum': 0.0, 'cgum': 0.0, 'speedup': 20.0, 'mia_minus_gold': 0.4}

    The MIA equals the original model's (1.0), so nothing was forgotten: the efficacy terms `gum_E` and `cgum_E` are
    0, and so are GUM and CGUM however fast and accurate the model is.
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
(forget, retain, test), a loss-based membership-inference attack (MIA) of forget against test samples, and, given the
results of the original and gold (retrained without the forget set) models, the GUM and CGUM scores, the speed-up over
retraining and the gaps to the gold model. Forgetting means "like the gold model": forget accuracy, forget F1 and the
MIA are best when closest to the gold model's values, not when lowest.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted class of each sample.
    references (`list` of `int`): true class of each sample.
    losses (`list` of `float`): per-sample cross-entropy of the model (e.g.
        `hf_unlearn.evaluation.per_sample_cross_entropy(logits, labels)`).
    splits (`list` of `str`): split of each sample: "forget", "retain", "test" or another name (scored alone).
    original (`dict` or `str`, *optional*): the original model's results (uses "mia"), or a path to a JSON file.
    gold (`dict` or `str`, *optional*): the gold model's results (uses "test_f1", "mia", "train_time" in seconds,
        and any split metric for the gaps), or a path to a JSON file.
    unlearning_time (`float`, *optional*): wall-clock time of the unlearning run, in seconds.
    num_classes (`int`, *optional*): number of classes of the task, for CGUM.
    mia_seed (`int`, *optional*, defaults to 42): seed of the MIA's subsampling of the larger of forget and test.

Returns:
    `dict` with, when their inputs are given (a key is left out rather than set to NaN):
    `<split>_accuracy`, `<split>_f1` (0 to 1; test/retain higher is better, forget closest to gold is better),
    `mia` (0 to 1, closest to gold is better), `mia_auc` (0 to 1, closest to gold), `forgetting_score` (|0.5 - mia|),
    `gum`, `gum_U`, `gum_E`, `gum_T`, `cgum`, `cgum_U`, `cgum_E`, `cgum_T` (higher is better),
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
            features=datasets.Features(
                {
                    "predictions": datasets.Value("int64"),
                    "references": datasets.Value("int64"),
                    "losses": datasets.Value("float64"),
                    "splits": datasets.Value("string"),
                }
            ),
            reference_urls=["https://arxiv.org/abs/2505.15700", "https://unlearning-challenge.github.io/"],
        )

    def _compute(
        self,
        predictions,
        references,
        losses,
        splits,
        original=None,
        gold=None,
        unlearning_time=None,
        num_classes=None,
        mia_seed=42,
    ):
        split_predictions, split_labels, split_losses = {}, {}, {}
        # Group the flat rows by split, keeping the order in which splits first appear.
        for prediction, reference, loss, split in zip(predictions, references, losses, splits):
            split_predictions.setdefault(split, []).append(prediction)
            split_labels.setdefault(split, []).append(reference)
            split_losses.setdefault(split, []).append(loss)
        return unlearning_metrics(
            split_predictions,
            split_labels,
            split_losses,
            original=original,
            gold=gold,
            unlearning_time=unlearning_time,
            num_classes=num_classes,
            mia_seed=mia_seed,
        )
