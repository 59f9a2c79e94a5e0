"""The metric table: one record per metric key that the evaluation, the experiment record and the benchmark write.

Each record says which split the figure is on, which direction is better, how it is named and printed, and whether the
model card, the audit log and the benchmark summary carry it. The results table (`report`), the model card and its
opening sentence (`hf_unlearn.hub`), the audit log, the run record (`hf_unlearn.experiment.run`) and the benchmark's
summaries read their keys, labels and formats here, so that a key is spelled once and a typo fails at import
(`metric_keys`).

A new metric: add its record here (and, when the evaluation computes it, in `unlearning_metrics`), and its row in the
metric card's "Output Values" table (`hf_unlearn/metrics/unlearning/README.md`); the tests check both.

This module imports nothing beyond the standard library: the evaluate module and `--help` stay light.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = [
    "CLOSEST_TO_GOLD",
    "CLOSEST_TO_ZERO",
    "DIRECTIONS",
    "GAP_SUFFIX",
    "HIGHER",
    "LOWER",
    "METRICS",
    "MetricSpec",
    "NO_DIRECTION",
    "card_metrics",
    "gap_key",
    "logged_metrics",
    "metric",
    "metric_keys",
]

HIGHER = "higher"
LOWER = "lower"
CLOSEST_TO_GOLD = "closest to gold"
CLOSEST_TO_ZERO = "closest to 0"
NO_DIRECTION = "–"  # a text or a plain quantity (a reference model's training time): no better or worse
DIRECTIONS = (HIGHER, LOWER, CLOSEST_TO_GOLD, CLOSEST_TO_ZERO, NO_DIRECTION)

#: Appended to a key for its difference from the gold model's value (`gaps_to_gold`).
GAP_SUFFIX = "_minus_gold"

#: Where a figure comes from: the evaluation (`unlearning_metrics`) or the run around it (`experiment.run`'s record).
EVALUATION, RUN = "evaluation", "run"


@dataclass(frozen=True)
class MetricSpec:
    """One metric key.

    Args:
        key (`str`): the key in results dicts (without the `eval_` prefix of `Trainer.evaluate()`).
        split (`str` or `None`): the split it is measured on (`"forget"`, `"retain"`, `"test"`, `"forget_test"`,
            `"forget_validation"`); the MIAs, LiRA and GUM/CGUM are filed under `"forget"`, the split they judge (the
            card's model-index does so too); `None` for a figure of the run (times, speed-up).
        direction (`str`): which value is better, one of `DIRECTIONS`.
        label (`str`): short name, the column header of tables (e.g. `"Forget Acc"`).
        name (`str`): the name in a sentence (e.g. `"forget accuracy"`).
        decimals (`int`, *optional*, defaults to 3), suffix (`str`, *optional*): how a value is printed.
        card_type (`str`, *optional*): its `metric_type` in the model card's model-index; `None`: not published there.
        card_name (`str`, *optional*): its readable name in the model-index.
        logged (`bool`, *optional*): copied into the audit log (`unlearning_log.jsonl`).
        has_gap (`bool`, *optional*): `unlearning_metrics` adds `<key>_minus_gold` when the gold model has the key.
        read_from (`tuple[str, ...]`, *optional*): keys a table cell tries in order (default: the key alone), e.g. the
            time column shows the unlearning time of a method's row and the training time of a reference row.
        caption (`str`, *optional*): the line explaining the column under a results table that shows it.
        source (`str`, *optional*): `"evaluation"` (computed by `unlearning_metrics`, documented in the metric card)
            or `"run"` (added to the record by the experiment).
    """

    key: str
    split: str | None
    direction: str
    label: str
    name: str
    decimals: int = 3
    suffix: str = ""
    card_type: str | None = None
    card_name: str | None = None
    logged: bool = False
    has_gap: bool = False
    read_from: tuple[str, ...] = ()
    caption: str | None = None
    source: str = EVALUATION

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise ValueError(f"{self.key}: direction {self.direction!r} is not one of {DIRECTIONS}.")
        if not self.read_from:
            object.__setattr__(self, "read_from", (self.key,))


def _split_metrics(split: str, label: str, name: str, direction: str, card: bool = False) -> tuple[MetricSpec, ...]:
    """`<split>_accuracy` and `<split>_f1` (see `subset_metrics`); `card`: published in the card and the audit log."""
    specs = []
    for suffix, short, long in (("accuracy", "Acc", "accuracy"), ("f1", "F1", "macro-F1")):
        published = {"card_type": suffix, "card_name": f"{name.capitalize()} {long}", "logged": True} if card else {}
        specs.append(
            MetricSpec(f"{split}_{suffix}", split, direction, f"{label} {short}", f"{name} {long}", has_gap=True,
                       **published)
        )  # fmt: skip
    return tuple(specs)


def _score_terms(score: str, label: str) -> tuple[MetricSpec, ...]:
    """GUM or CGUM (published in the card and the audit log) and its utility, efficacy and time terms."""
    main = MetricSpec(score, "forget", HIGHER, label, label, card_type=score, card_name=label, logged=True)
    terms = (("U", "utility"), ("E", "efficacy"), ("T", "time"))
    return main, *(
        MetricSpec(f"{score}_{t}", "forget", HIGHER, f"{label} {t}", f"{label}'s {w} term") for t, w in terms
    )


# In the order `unlearning_metrics` writes them; the card, the audit log and the gaps follow this order.
# fmt: off
_BASE = (
    *_split_metrics("forget", "Forget", "forget", CLOSEST_TO_GOLD, card=True),
    *_split_metrics("retain", "Retain", "retain", HIGHER, card=True),
    *_split_metrics("test", "Test", "test", HIGHER, card=True),
    *_split_metrics("forget_test", "Forget-test", "held-out forget", CLOSEST_TO_GOLD),
    *_split_metrics("forget_validation", "Forget-val", "forget-validation", CLOSEST_TO_GOLD),
    MetricSpec(
        "mia", "forget", CLOSEST_TO_GOLD, "MIA", "MIA", card_type="mia", card_name="MIA accuracy (forget vs test)",
        logged=True, has_gap=True,
    ),
    MetricSpec("mia_auc", "forget", CLOSEST_TO_GOLD, "MIA AUC", "MIA AUC", has_gap=True),
    MetricSpec("forgetting_score", "forget", CLOSEST_TO_GOLD, "Forgetting score", "forgetting score", has_gap=True),
    MetricSpec(
        "mia_heldout", "forget", CLOSEST_TO_GOLD, "MIA held-out", "held-out MIA", logged=True, has_gap=True,
        caption="MIA held-out (forget vs held-out recordings): closest to gold",
    ),
    MetricSpec("mia_heldout_auc", "forget", CLOSEST_TO_GOLD, "MIA held-out AUC", "held-out MIA AUC", has_gap=True),
    MetricSpec(
        "mia_heldout_auc_all", "forget", CLOSEST_TO_GOLD, "Held-out AUC (all rows)", "held-out MIA AUC on every row",
        has_gap=True,
    ),
    *(
        MetricSpec(f"mia_heldout_auc_all_{end}", "forget", NO_DIRECTION, f"Held-out AUC {end}",
                   f"{'lower' if end == 'low' else 'upper'} end of the held-out AUC's 90 % interval")
        for end in ("low", "high")
    ),
    MetricSpec(
        "lira_auc", "forget", CLOSEST_TO_GOLD, "LiRA AUC", "LiRA AUC", has_gap=True,
        caption="LiRA AUC (per-example attack): closest to gold (about 0.5)",
    ),
    MetricSpec("lira_tpr_at_1fpr", "forget", CLOSEST_TO_GOLD, "LiRA TPR@1%", "LiRA TPR at 1 % FPR", has_gap=True),
    MetricSpec("lira_tpr_at_5fpr", "forget", CLOSEST_TO_GOLD, "LiRA TPR@5%", "LiRA TPR at 5 % FPR", has_gap=True),
    MetricSpec(
        "kl_to_gold", "forget", LOWER, "KL to gold", "KL to gold",
        caption="KL to gold (mean KL(gold || model) on forget, nats): lower is better",
    ),
    *(
        MetricSpec(f"kl_to_gold_{split}", split, LOWER, f"KL to gold ({split})", f"KL to gold on {split}")
        for split in ("retain", "test", "forget_test", "forget_validation")
    ),
    *_score_terms("gum", "GUM"),
    *_score_terms("cgum", "CGUM"),
    MetricSpec("gum_undefined_reason", None, NO_DIRECTION, "GUM undefined", "why GUM is undefined"),
    MetricSpec("speedup", None, HIGHER, "Speed-up", "speed-up", decimals=1, suffix="×"),
    MetricSpec("time_share_of_gold", None, LOWER, "Time / gold", "time share of gold's retraining", decimals=1),
    MetricSpec(
        "unlearning_time", None, LOWER, "Time (s)", "unlearning time", decimals=1, source=RUN,
        read_from=("time", "unlearning_time", "train_time", "train_runtime"),
    ),
    MetricSpec("gold_train_time", None, NO_DIRECTION, "Gold time (s)", "gold retraining time", 1, source=RUN),
    MetricSpec("train_time", None, NO_DIRECTION, "Training time (s)", "training time", 1, source=RUN),
)
# fmt: on


def _gap(spec: MetricSpec) -> MetricSpec:
    """The record of `<key>_minus_gold`: same split and format, closest to 0 is better."""
    return replace(
        spec, key=spec.key + GAP_SUFFIX, direction=CLOSEST_TO_ZERO, label=f"{spec.label} − gold",
        name=f"{spec.name} − gold", card_type=None, card_name=None, logged=False, has_gap=False, read_from=(),
        caption=None,
    )  # fmt: skip


#: Every metric key -> its record: the base keys, then the gaps to gold in the order of their base keys.
METRICS: dict[str, MetricSpec] = {spec.key: spec for spec in (*_BASE, *(_gap(s) for s in _BASE if s.has_gap))}


def metric(key: str) -> MetricSpec:
    """The record of `key` (an `eval_` prefix is ignored); the error names the table to add it to."""
    bare = key[len("eval_") :] if key.startswith("eval_") and key not in METRICS else key
    if bare not in METRICS:
        raise KeyError(f"Metric {key!r} has no record in hf_unlearn.evaluation.metric_table.METRICS: add one there.")
    return METRICS[bare]


def metric_keys(*keys: str) -> tuple[str, ...]:
    """`keys`, each checked to have a record: a selection of metrics spelled once, failing at import on a typo."""
    return tuple(metric(key).key for key in keys)


def gap_key(key: str) -> str:
    """`<key>_minus_gold`, checked to exist (the base key has `has_gap`)."""
    return metric(key + GAP_SUFFIX).key


def card_metrics() -> tuple[MetricSpec, ...]:
    """The metrics the model card's model-index publishes, in table order."""
    return tuple(spec for spec in METRICS.values() if spec.card_type is not None)


def logged_metrics() -> tuple[str, ...]:
    """The keys copied into the audit log, in table order."""
    return tuple(spec.key for spec in METRICS.values() if spec.logged)
