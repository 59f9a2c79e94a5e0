"""Runs that stopped before they finished: never saved as a successful unlearning.

The divergence guard (`hf_unlearn.trainer.guard`) stops a run whose training loss became NaN or infinite, or whose
retain accuracy collapsed, and puts back the weights of its last good check: often the original's own weights, which
are not an unlearned model. A run without the guard may end with NaN weights. [`check_save_of_stopped_run`] refuses
the final save of such a run, saying why it stopped, unless `save_stopped_runs=True` asks for it; the card, the
`unlearning_results.json` and the audit log of a run saved that way then say that it stopped and why
([`stopped_run`]). A stop because the forget accuracy reached the gold model's (`stop_at_gold`) is a success: saved.
"""

from __future__ import annotations

from hf_unlearn.checks import nonfinite_parameters


def stopped_run(trainer) -> dict | None:
    """`{"reason", "at_step", "failed"}` when `trainer`'s run stopped early or ended with non-finite weights, else
    `None`. `failed` is `False` only for a stop the guard counts as success (gold reached)."""
    reason = getattr(trainer, "stop_reason", None)
    model = trainer.accelerator.unwrap_model(trainer.model)
    nonfinite = nonfinite_parameters(model)
    if nonfinite:
        name, bad, size = nonfinite[0]
        weights = f"the weights hold NaN or infinite values ({bad} of {size} in {name!r}, {len(nonfinite)} tensor(s))"
        reason = f"{reason} And {weights}." if reason else f"Unlearning ended with broken weights: {weights}."
    if reason is None:
        return None
    failed = bool(nonfinite) or bool(getattr(trainer, "stop_is_failure", True))
    return {"reason": reason, "at_step": getattr(trainer, "stopped_at_step", None), "failed": failed}


def check_save_of_stopped_run(trainer, folder) -> dict | None:
    """Refuses to save a run that stopped as a failure (see the module docstring) unless
    `trainer.args.save_stopped_runs`; returns [`stopped_run`]'s record (`None` for a run that finished)."""
    stopped = stopped_run(trainer)
    if stopped and stopped["failed"] and not getattr(trainer.args, "save_stopped_runs", False):
        raise ValueError(
            f"This unlearning run stopped before it finished ({stopped['reason']}) and is not a successful "
            f"unlearning, so it is not saved to {str(folder)!r}. Fix the cause and run again, or pass "
            "save_stopped_runs=True (--save_stopped_runs) to save it anyway: its model card, unlearning_results.json "
            "and audit log then say that it stopped and why."
        )
    return stopped
