"""The opening verdict of an unlearned model's card: whether the forgotten data is still recognised, judged from the
forget accuracy and the held-out MIA next to the gold model's (retrained without the forget set), and whether the
original model already scored like gold (then the figures cannot show forgetting). Used by `hf_unlearn.hub.card`."""

from __future__ import annotations

from hf_unlearn.evaluation.metric_table import metric

# (results key, name in the sentence) of the figures the verdict reads.
_OUTCOME_FIGURES = tuple((metric(key).key, metric(key).name) for key in ("forget_accuracy", "mia_heldout"))
RECOGNITION_TOLERANCE = 0.05


def _against_gold(results: dict, gold: dict) -> list[tuple]:
    """`(name, value, gold value)` of each outcome figure (`_OUTCOME_FIGURES`) that both dicts hold as a number."""
    rows = [(name, results.get(key), gold.get(key)) for key, name in _OUTCOME_FIGURES]
    return [row for row in rows if all(isinstance(v, (int, float)) for v in row[1:])]


def outcome_sentence(
    results: dict | None,
    gold_results: dict | None = None,
    kind: str | None = None,
    original_results: dict | None = None,
) -> str:
    """One sentence on whether the forgotten data is still recognised, from the forget accuracy and the held-out MIA
    (`mia_heldout`) next to the gold model's (retrained without the forget set). A figure more than
    [`RECOGNITION_TOLERANCE`] above gold's means "still recognised", one more than that below gold's means
    over-forgetting (itself a sign of the request); without a gold model the sentence says nothing was compared.
    When the figures are like gold's and `original_results` shows that the original already was (within the same
    tolerance on the same figures), the sentence says so: on such a request a run that changed nothing would pass,
    so the figures cannot show forgetting."""
    what = {
        "class": "forgotten class's recordings",
        "speaker": "forgotten speakers' recordings",
        "speaker_id": "forgotten speakers' recordings",
    }.get(kind, "forgotten recordings")
    results, gold = results or {}, gold_results or {}
    measured = [(name, results.get(key), gold.get(key)) for key, name in _OUTCOME_FIGURES]
    measured = [(name, value, reference) for name, value, reference in measured if isinstance(value, (int, float))]
    if not measured:
        return f"Whether the {what} are still recognised was not measured (no evaluation on the forget set)."
    compared = _against_gold(results, gold)
    if not compared:
        figures = " and ".join(f"{name} {value:.3f}" for name, value, _ in measured)
        return (
            f"Whether the {what} are still recognised was not compared with a retrained model (no gold model): "
            f"{figures}."
        )

    def listed(rows):
        return " and ".join(f"{name} {value:.3f} vs {ref:.3f}" for name, value, ref in rows)

    # The verdict names the figures that decide it; the others follow, said to be within the tolerance.
    above = [row for row in compared if row[1] - row[2] > RECOGNITION_TOLERANCE]
    below = [row for row in compared if row[1] - row[2] < -RECOGNITION_TOLERANCE]
    if above:
        rest = [row for row in compared if row not in above]
        within = f" ({listed(rest)}: within {RECOGNITION_TOLERANCE:g})" if rest else ""
        return f"The {what} are still recognised: {listed(above)} for a model retrained without them{within}."
    if below:
        rest = [row for row in compared if row not in below]
        within = f"; {listed(rest)}: within {RECOGNITION_TOLERANCE:g}" if rest else ""
        return (
            f"The {what} are recognised less than by a model retrained without them ({listed(below)}{within}): "
            "over-forgetting, which can itself reveal the request."
        )
    verdict = (
        f"The {what} are no longer recognised beyond what a retrained model does: {listed(compared)} for a model "
        "retrained without them"
    )
    before = _against_gold(original_results or {}, gold)
    same_figures = [name for name, _, _ in before] == [name for name, _, _ in compared]
    if same_figures and all(abs(value - ref) <= RECOGNITION_TOLERANCE for _, value, ref in before):
        figures = " and ".join(f"{name} {value:.3f}" for name, value, _ in before)
        return (
            f"{verdict}. The original model already was ({figures}): on this request a model that forgot nothing "
            "scores like the retrained one, so these figures cannot show that anything was forgotten."
        )
    return verdict + "."
