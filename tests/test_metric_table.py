"""The metric table (`hf_unlearn.evaluation.metric_table`): every key the evaluation writes has a record, every record
of the evaluation has its row (same direction) in the metric card's "Output Values" table, and the places that show
metrics read their keys, labels and formats from it."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from hf_unlearn.evaluation import unlearning_metrics
from hf_unlearn.evaluation.metric_table import (
    CLOSEST_TO_ZERO,
    EVALUATION,
    GAP_SUFFIX,
    METRICS,
    NO_DIRECTION,
    card_metrics,
    gap_key,
    logged_metrics,
    metric,
    metric_keys,
)

METRIC_CARD = Path(__file__).resolve().parent.parent / "hf_unlearn" / "metrics" / "unlearning" / "README.md"
SPLITS = ("forget", "retain", "test", "forget_test", "forget_validation")


def _outputs(rng, num_classes=3, rows=12, sharp=3.0):
    """Logits and labels per split: the logits lean towards the label (by `sharp`)."""
    logits, labels = {}, {}
    for split in SPLITS:
        labels[split] = rng.integers(0, num_classes, rows)
        logits[split] = rng.normal(size=(rows, num_classes)) + sharp * np.eye(num_classes)[labels[split]]
    return logits, labels


def _evaluate(rng, gold=None, original=None, gold_logits=None, shadows=None):
    from hf_unlearn.evaluation import per_sample_cross_entropy

    logits, labels = _outputs(rng)
    losses = {split: per_sample_cross_entropy(logits[split], labels[split]) for split in SPLITS}
    predictions = {split: logits[split].argmax(-1) for split in SPLITS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = unlearning_metrics(
            predictions, labels, losses, original=original, gold=gold, unlearning_time=2.0, num_classes=3,
            split_logits=logits, gold_logits=gold_logits, shadow_logits=shadows,
        )  # fmt: skip
    return results, logits


def emitted_keys() -> set[str]:
    """Every key `unlearning_metrics` writes on a small synthetic request, GUM defined and undefined."""
    rng = np.random.default_rng(0)
    shadows = {split: np.stack([_outputs(rng)[0][split] for _ in range(2)]) for split in SPLITS}
    gold, gold_logits = _evaluate(rng, shadows=shadows)
    gold["train_time"] = 40.0
    keys = set()
    for original_mia in (0.99, 0.0):  # above gold's MIA: GUM defined; below: undefined, with the reason
        results, _ = _evaluate(rng, gold, {"mia": original_mia}, gold_logits, shadows)
        keys |= set(results)
    return keys


def test_every_key_the_evaluation_writes_has_a_record():
    keys = emitted_keys()
    assert {"gum", "gum_undefined_reason", "lira_auc", "kl_to_gold_forget_validation", "mia_minus_gold"} <= keys
    missing = sorted(key for key in keys if key not in METRICS)
    assert not missing, f"add these keys to hf_unlearn/evaluation/metric_table.py: {missing}"
    # And the other way round: the evaluation's records are keys it writes (no stale record).
    stale = sorted(k for k, spec in METRICS.items() if spec.source == EVALUATION and k not in keys)
    assert not stale, stale


def _documented_rows() -> list[tuple[list[str], str]]:
    """`(keys or patterns in the first cell, "Better" cell)` of each row of the metric card's "Output Values"."""
    text = METRIC_CARD.read_text()
    section = text[text.index("### Output Values") :]
    rows = []
    for line in section.splitlines()[4:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append((re.findall(r"`([^`]+)`", cells[0]), cells[2]))
    return rows


def _doc_row_of(key: str, rows) -> str:
    """The "Better" cell of the row naming `key`, else of the row whose pattern (`<key>_minus_gold`) matches it."""
    for names, better in rows:
        if key in names:
            return better
    for names, better in rows:
        for name in names:
            if "<" in name and re.fullmatch(re.sub(r"<[^>]+>", "[a-z0-9_]+", name), key):
                return better
    raise AssertionError(f"{key} is not in the metric card's Output Values table ({METRIC_CARD}).")


def test_every_record_is_documented_in_the_metric_card_with_its_direction():
    rows = _documented_rows()
    assert len(rows) > 10
    for key, spec in METRICS.items():
        if spec.source != EVALUATION:
            continue
        better = _doc_row_of(key, rows)
        assert better.startswith(spec.direction), (key, spec.direction, better)
    # Every key the card names exactly has a record.
    named = {name for names, _ in rows for name in names if "<" not in name}
    assert named <= set(METRICS), sorted(named - set(METRICS))


def test_records_are_consistent():
    for key, spec in METRICS.items():
        assert spec.key == key and spec.label and spec.name
        if key.endswith(GAP_SUFFIX):
            assert spec.direction == CLOSEST_TO_ZERO and METRICS[key[: -len(GAP_SUFFIX)]].has_gap
    assert metric("eval_forget_accuracy") is METRICS["forget_accuracy"]
    assert gap_key("mia_heldout") == "mia_heldout_minus_gold"
    with pytest.raises(KeyError, match="metric_table"):
        metric_keys("forget_acuracy")
    assert METRICS["gum_undefined_reason"].direction == NO_DIRECTION


def test_card_audit_report_and_summary_read_the_table():
    from hf_unlearn.benchmark import group_summary
    from hf_unlearn.evaluation.report import OPTIONAL_COLUMNS, TABLE_COLUMNS
    from hf_unlearn.hub import audit, card

    assert card.CARD_METRICS == tuple((s.key, s.split, s.card_type, s.card_name) for s in card_metrics())
    assert audit.LOGGED_METRICS == logged_metrics()
    for header, keys, decimals, suffix, *_ in TABLE_COLUMNS + OPTIONAL_COLUMNS:
        spec = metric(keys[0] if keys[0] in METRICS else keys[1])
        assert (header, keys, decimals, suffix) == (spec.label, spec.read_from, spec.decimals, spec.suffix)
    assert all(key in METRICS for key in group_summary.SUMMARY_KEYS)
    assert all(key in METRICS for _, keys, _, _ in group_summary.TARGETS for key in keys)
