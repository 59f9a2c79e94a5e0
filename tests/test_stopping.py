"""The stopping rule (`hf_unlearn.trainer.stopping`): it stops where the forget figures reach the target, ends on the
closest check that kept utility with that check's weights bitwise, reads only the rows it is given, and stops at the
same step when a run is resumed from a checkpoint.

The toy request: a tiny CNN that solves the toy task, gradient ascent on one class at a small learning rate, so the
forget accuracy falls over a dozen steps. A first run with an unreachable target records the trajectory (the rule
measures every step); the targets of the other runs are taken from it, so each test knows at which step the target is
reached and which check is the closest.
"""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_trainer

STEPS = 12


@pytest.fixture(scope="module")
def splits(tone1_request):
    return tone1_request


@pytest.fixture(scope="module")
def trained(tone1_original_dir):
    return tone1_original_dir


def make(splits, trained, output_dir, learning_rate=3e-4, stopping_splits=None, method="gradient_ascent", **fields):
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    model = AutoModelForAudioClassification.from_pretrained(trained)
    extractor = AutoFeatureExtractor.from_pretrained(trained)
    settings = dict(stop_target="reference", stop_interval=1, stop_retain_tolerance=1.0, max_steps=STEPS)
    stopping = {"retain_validation": splits.retain_eval} if stopping_splits is None else stopping_splits
    return tiny_trainer(
        method,
        splits,
        output_dir,
        model=model,
        extractor=extractor,
        output_dir=str(output_dir),
        learning_rate=learning_rate,
        trainer_kwargs={"stopping_splits": stopping, "forget_request": splits},
        **{**settings, **fields},
    )


def spy_on_checks(trainer) -> dict:
    """Records the weights the model holds at every check of the stopping rule, by step."""
    seen, real_check = {}, trainer.stopping._check

    def check(step):
        seen[step] = {n: t.detach().clone() for n, t in trainer.model.state_dict().items()}
        return real_check(step)

    trainer.stopping._check = check
    return seen


@pytest.fixture(scope="module")
def trajectory(splits, trained, tmp_path_factory):
    """The checks of an uninterrupted run whose target is never reached (it runs its full length)."""
    trainer = make(splits, trained, tmp_path_factory.mktemp("trajectory"), stop_target_accuracy=-1.0)
    trainer.train()
    assert trainer.state.global_step == STEPS
    assert [c["step"] for c in trainer.stopping.checks] == list(range(STEPS + 1))  # the last step is checked too
    return trainer.stopping.checks


def expected_stop(checks, accuracy, confidence=None, forget_rows=None):
    """(arrival step, closest step up to it) for a target, by the rule's definition (accuracy first, confidence among
    checks within one binomial standard error of it), from a recorded trajectory."""
    arrival = next(c["step"] for c in checks if c["forget_accuracy"] <= accuracy)
    noise = 0.0
    if confidence is not None:
        p, n = min(max(accuracy, 0.0), 1.0), forget_rows
        noise = max((p * (1 - p) / n) ** 0.5, 1.0 / n)
    best = None
    for check in (c for c in checks if c["step"] <= arrival):
        gaps = (abs(check["forget_accuracy"] - accuracy), 0.0)
        if confidence is not None:
            gaps = (gaps[0], abs(check["forget_confidence"] - confidence))
        if best is None or gaps[0] < best[0][0] - noise or (gaps[0] <= best[0][0] + noise and gaps[1] < best[0][1]):
            best = (gaps, check["step"])
    return arrival, best[1]


def between_two_checks(checks):
    """A target just below a check `b` whose successor is clearly lower: reached at `b + 1`, closest at `b`."""
    for before, after in zip(checks[1:], checks[2:]):
        if after["forget_accuracy"] < before["forget_accuracy"] - 0.02:
            return before["forget_accuracy"] - 0.01, before["forget_confidence"]
    raise AssertionError(f"the toy trajectory never falls: {checks}")


def level_then_falling(checks):
    """A target just below a check `b` whose successor has the same accuracy (but another confidence) and whose
    second successor is clearly lower: reached at `b + 2`, closest at `b`, so a checkpoint at `b + 1` lies between."""
    for before, same, after in zip(checks[1:], checks[2:], checks[3:]):
        level = before["forget_accuracy"] == same["forget_accuracy"]
        if level and after["forget_accuracy"] < before["forget_accuracy"] - 0.02:
            return before["forget_accuracy"] - 0.01, before["forget_confidence"]
    raise AssertionError(f"the toy trajectory has no level step before a fall: {checks}")


def test_the_forget_accuracy_falls_on_the_toy_request(trajectory):
    accuracies = [c["forget_accuracy"] for c in trajectory]
    assert accuracies[0] == 1.0 and accuracies[-1] < 0.5, accuracies


def test_stops_at_the_step_where_the_target_is_reached(splits, trained, trajectory, tmp_path):
    target = trajectory[len(trajectory) // 2]["forget_accuracy"]
    arrival, _ = expected_stop(trajectory, target)
    assert 0 < arrival < STEPS
    trainer = make(splits, trained, tmp_path, stop_target_accuracy=target)
    trainer.train()
    assert trainer.state.global_step == arrival
    assert trainer.stopping.reached_at == arrival
    assert [c["step"] for c in trainer.stopping.checks] == list(range(arrival + 1))


def test_ends_on_the_closest_check_with_its_weights_bitwise(splits, trained, trajectory, tmp_path):
    accuracy, confidence = between_two_checks(trajectory)
    arrival, closest = expected_stop(trajectory, accuracy, confidence, len(splits.forget))
    assert closest < arrival, "the test needs a closest check before the arrival"
    trainer = make(splits, trained, tmp_path, stop_target_accuracy=accuracy, stop_target_confidence=confidence)
    seen = spy_on_checks(trainer)
    trainer.train()
    assert trainer.state.global_step == arrival
    assert trainer.stopped_at_step == closest == trainer.stopping.record()["stopped_at_step"]
    for name, tensor in trainer.model.state_dict().items():
        assert torch.equal(tensor, seen[closest][name]), f"{name} is not the weights of step {closest}"


def test_a_check_that_lost_utility_is_never_the_end(splits, trained, tmp_path):
    # At lr 1e-3 the ascent wrecks the other classes within a few steps; a tight tolerance excludes those checks.
    trainer = make(splits, trained, tmp_path, learning_rate=1e-3, stop_target_accuracy=0.0, stop_retain_tolerance=0.1)
    trainer.train()
    checks = {c["step"]: c for c in trainer.stopping.checks}
    assert not checks[trainer.state.global_step]["utility_kept"], "the toy run should lose utility on arrival"
    kept = checks[trainer.stopped_at_step]
    assert kept["utility_kept"] and kept["utility"] >= trainer.stopping.original_utility - 0.1
    assert trainer.stopped_at_step < trainer.state.global_step


def test_a_repairing_method_is_checked_on_every_repair_step_and_ends_once_the_class_stays_forgotten(
    splits, trained, tmp_path
):
    # SCRUB's max steps drive the forgotten class's accuracy to 0 at once; only its min (repair) steps may end a run,
    # and the retain rows never teach the class back: below the target and no longer climbing is an end.
    fields = dict(method="scrub", learning_rate=3e-3, max_steps=-1, num_train_epochs=2, stop_target_accuracy=0.5)
    full = make(splits, trained, tmp_path / "full", **{**fields, "stop_target_accuracy": -1.0})  # never done
    sides, real_check = {}, full.stopping._check

    def check(step):
        sides[step] = full.last_step_side
        return real_check(step)

    full.stopping._check = check
    full.train()
    assert full.state.global_step == full.state.max_steps and full.stopping.reached_at is None
    repair_checks = sorted(step for step in sides if step > 0)  # step 0: the original
    assert {sides[step] for step in repair_checks} == {"retain"} and len(repair_checks) < full.state.max_steps
    assert len(repair_checks) > 2, "every min step may end the run, not only the two epoch ends"
    forgotten = [c["step"] for c in full.stopping.checks if c["step"] > 0 and c["forget_accuracy"] < 0.5]
    assert forgotten[:2] == repair_checks[:2], "the toy class is forgotten from the first repair check on"
    stays = make(splits, trained, tmp_path / "stays", **fields)
    stays.train()
    # The first repair check falls below the target from the original's level; the second, no longer climbing, ends.
    assert stays.stopping.reached_at == stays.state.global_step == repair_checks[1]


def scripted_rule(splits, trained, tmp_path, method, figures, target=0.6, rows=100):
    """`method`'s stopping rule fed a scripted trajectory of `(forget accuracy, utility)` per check (original utility
    1.0, tolerance 0.05, no target confidence): returns `(rule, [whether each check ended the run])`."""
    rule = make(splits, trained, tmp_path, method=method, stop_target_accuracy=target).stopping
    rule.original_utility, rule.tolerance, rule.forget_rows = 1.0, 0.05, rows
    script = iter(value for pair in figures for value in pair)
    rule._figures = lambda batches, classes=None, excluded=None: (next(script), 0.0)
    return rule, [rule._check(step * 8) for step in range(len(figures))]


def test_a_repairing_run_ends_on_landing_climbing_through_or_stalling_below_not_on_passing_below(
    splits, trained, tmp_path
):
    # Noise: one standard error of 0.6 over 100 rows, 0.049. A repair passes far below the target, then climbs.
    climbing = [(1.0, 1.0), (0.2, 0.8), (0.35, 0.97), (0.5, 0.97), (0.75, 0.98), (0.8, 0.98)]
    rule, done = scripted_rule(splits, trained, tmp_path / "a", "scrub", climbing)
    assert done == [False, False, False, False, True, False]  # through the target between 0.5 and 0.75
    assert rule.reached_at == 32 and rule.best[1] == 24  # ends on the closest check that kept utility
    rule, done = scripted_rule(splits, trained, tmp_path / "b", "scrub", [(1.0, 1.0), (0.58, 0.97)])
    assert done == [False, True]  # landed within the noise
    rule, done = scripted_rule(splits, trained, tmp_path / "c", "scrub", [(1.0, 1.0), (0.58, 0.9)])
    assert done == [False, False]  # landed, but utility lost: not an end
    rule, done = scripted_rule(splits, trained, tmp_path / "d", "scrub", [(1.0, 1.0), (0.1, 0.97), (0.1, 0.97)])
    assert done == [False, False, True]  # below, and no longer climbing
    # A method that does not repair ends as soon as it passes below the target.
    rule, done = scripted_rule(splits, trained, tmp_path / "e", "gradient_ascent", [(1.0, 1.0), (0.2, 0.97)])
    assert done == [False, True]


def test_the_default_utility_tolerance_is_a_number_of_standard_errors(splits, trained, tmp_path):
    n = len(splits.retain_eval)
    for k in (2.0, 6.0):
        trainer = make(splits, trained, tmp_path / str(k), stop_target_accuracy=0.5, stop_retain_tolerance=None,
                       stop_retain_standard_errors=k)  # fmt: skip
        trainer.train()  # the toy original solves its few validation rows: k rows' worth, as the tuner allows
        assert trainer.stopping.record()["retain_tolerance"] == pytest.approx(k / n)
        assert trainer.stopping._tolerance() == pytest.approx(tuner_tolerance(1.0, n, k))
        trainer.stopping.original_utility = 0.8  # an original that misses some rows: k standard errors
        assert trainer.stopping._tolerance() == pytest.approx(k * max((0.8 * 0.2 / n) ** 0.5, 1 / n))
        assert trainer.stopping._tolerance() == pytest.approx(tuner_tolerance(0.8, n, k))
        assert trainer.stopping._tolerance() > 1 / n


def tuner_tolerance(p: float, n: int, k: float) -> float:
    """The utility tolerance the benchmark tuner grants a trial whose original scores `p` on `n` rows: a setting the
    tuner accepts must be one the rule keeps."""
    from hf_unlearn.benchmark.tuning import VALIDATION_KEYS, trial_scores

    view = dict.fromkeys(VALIDATION_KEYS) | {
        "original_retain_validation_accuracy": p, "num_retain_validation": n, "retain_validation_accuracy": p,
        "num_forget_validation": 0, "forget_accuracy": p,
    }  # fmt: skip
    return trial_scores(view, k)["utility_tolerance"]


def test_a_class_requests_utility_baseline_is_the_original_that_never_names_the_class(splits, trained, tmp_path):
    # A retrained model never names the forgotten class and gains the other classes' rows the original confused with
    # it: the baseline is the original's top class among the others, not its plain accuracy.
    trainer = make(splits, trained, tmp_path, stop_target_accuracy=0.5)
    rule, calls = trainer.stopping, []
    real_figures = rule._figures
    rule._figures = lambda batches, classes=None, excluded=None: (
        calls.append((batches, excluded)) or real_figures(batches, classes, excluded)
    )
    trainer.train()
    forgotten = sorted({int(label) for label in splits.forget["label"]})
    assert rule.forgotten_classes == forgotten
    assert (rule.utility_batches, forgotten) in calls[:1]  # the original's utility, measured first
    # The mechanism: on the forgotten class's own rows the original that never names it is never right.
    assert real_figures(rule.forget_batches)[0] > 0.5 and real_figures(rule.forget_batches, excluded=forgotten)[0] == 0


class Forbidden(dict):
    """A split or results dict that must not be read while the stopping rule runs."""

    def _refuse(self, *args, **kwargs):
        raise AssertionError("the stopping rule read rows or figures it was not given")

    __getitem__ = get = items = keys = values = __iter__ = __len__ = _refuse


class ForbiddenRows:
    """Rows that raise when read (len, indexing, iteration, select)."""

    def __getattr__(self, name):
        raise AssertionError(f"the stopping rule read forbidden rows ({name})")

    def __len__(self):
        raise AssertionError("the stopping rule read forbidden rows (len)")


def test_reads_only_the_rows_it_is_given(splits, trained, tmp_path):
    trainer = make(splits, trained, tmp_path, stop_target_accuracy=0.5)
    # What the rule must never read: the test rows, the gold model's figures, the original's reported figures.
    trainer.eval_dataset = {"test": ForbiddenRows(), "forget_test": ForbiddenRows()}
    trainer.gold_results, trainer.original_results = Forbidden(), Forbidden()
    trainer.train()
    assert trainer.stopping.reached_at is not None
    # The utility rows are the retain-validation rows given, not the retain training rows.
    measured = sum(len(batch["labels"]) for batch in trainer.stopping.utility_batches)
    assert measured == len(splits.retain_eval) != len(splits.retain)


def test_unseen_target_of_a_class_request_counts_the_class_among_other_rows(splits, trained, tmp_path):
    unseen = splits.retain_eval  # held-out recordings of the other classes: never trained on
    trainer = make(splits, trained, tmp_path, stop_target="unseen", stopping_splits={"unseen": unseen})
    trainer.train()
    record = trainer.stopping.record()
    assert record["mode"] == "unseen" and record["target_forget_accuracy"] is not None
    # The original names tone1 on none of the other classes' rows it solves: the target is a share near 0.
    assert 0.0 <= record["target_forget_accuracy"] <= 0.2
    with pytest.raises(ValueError, match="stopping_splits=\\{'unseen'"):
        make(splits, trained, tmp_path, stop_target="unseen", stopping_splits={})
    with pytest.raises(ValueError, match="needs stop_target_accuracy"):
        make(splits, trained, tmp_path)


def test_resumed_run_stops_at_the_same_step_with_the_same_weights(splits, trained, trajectory, tmp_path):
    accuracy, confidence = level_then_falling(trajectory)
    arrival, closest = expected_stop(trajectory, accuracy, confidence, len(splits.forget))
    assert arrival - closest >= 2, "the test needs a checkpoint between the closest check and the arrival"
    fields = dict(stop_target_accuracy=accuracy, stop_target_confidence=confidence)
    # A checkpoint after the closest check and before the arrival: the resumed run must bring that check's weights.
    fields.update(save_strategy="steps", save_steps=closest + 1)
    full = make(splits, trained, tmp_path / "full", **fields)
    full.train()
    checkpoint = tmp_path / "full" / f"checkpoint-{closest + 1}"
    assert checkpoint.is_dir()
    resumed = make(splits, trained, tmp_path / "resumed", **fields)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert resumed.state.global_step == full.state.global_step == arrival
    assert resumed.stopped_at_step == full.stopped_at_step == closest
    assert resumed.stopping.checks == full.stopping.checks
    expected = full.model.state_dict()
    for name, tensor in resumed.model.state_dict().items():
        assert torch.equal(tensor, expected[name]), f"{name} differs after resuming"


def test_the_stop_is_recorded_in_the_results_audit_log_and_card(splits, trained, tmp_path):
    import json

    trainer = make(splits, trained, tmp_path, stop_target_accuracy=0.5, stop_target_source="a fold-out model")
    trainer.train()
    trainer.last_eval_results = {"forget_accuracy": 0.5}
    trainer.save_model()
    results = json.loads((tmp_path / "unlearning_results.json").read_text())
    assert results["stopping"]["stopped_at_step"] == trainer.stopped_at_step
    assert results["stopping"]["source"] == "a fold-out model"
    log = [json.loads(line) for line in (tmp_path / "unlearning_log.jsonl").read_text().splitlines()]
    assert log[-1]["stopping"]["mode"] == "reference"
    config = json.loads((tmp_path / "unlearning_config.json").read_text())
    assert config["stopping"]["target_forget_accuracy"] == 0.5
    card = (tmp_path / "README.md").read_text()
    assert "stopping rule" in card and f"weights of step {trainer.stopped_at_step}" in card


def test_fold_out_models_never_see_their_fold_and_give_a_request_its_target(toy_dataset, tmp_path):
    """Two folds of the toy speakers: each fold-out model trains without its fold's rows (cached like every reference
    model), and a request of one speaker gets the target of the model whose fold holds that speaker."""
    from conftest import SAMPLING_RATE

    from hf_unlearn.experiment import ReferenceSpec, fit_extractor
    from hf_unlearn.experiment.fold_out import fold_for, fold_out_models, fold_out_target, make_folds

    training = {"num_train_epochs": 2, "learning_rate": 3e-3, "per_device_train_batch_size": 8}
    spec = ReferenceSpec(toy_dataset.features["label"].names, model_type="mfcc_cnn", training=training)
    extractor = fit_extractor(spec.new_extractor(sampling_rate=SAMPLING_RATE), toy_dataset)
    speakers = sorted(set(toy_dataset["speaker"]))
    folds = make_folds(speakers, 2, seed=0)
    assert sorted(s for fold in folds for s in fold) == speakers and all(folds)
    models = fold_out_models(toy_dataset, None, spec, extractor, num_folds=2, seed=0, cache_dir=tmp_path, use_cpu=True)
    for entry in models:  # trained on exactly the rows outside the fold
        outside = sum(1 for s in toy_dataset["speaker"] if s not in entry["fold"])
        assert entry["model"].info["num_train_rows"] == outside < len(toy_dataset)
    speaker = folds[1][0]
    assert fold_for(models, [speaker]) is models[1]["model"]
    with pytest.raises(ValueError, match="No fold holds"):
        fold_for(models, [folds[0][0], folds[1][0]])
    rows = toy_dataset.filter(lambda s: s == speaker, input_columns="speaker")
    target = fold_out_target(models, [speaker], rows, extractor, use_cpu=True)
    assert target["stop_target"] == "reference" and 0.0 <= target["stop_target_accuracy"] <= 1.0
    again = fold_out_models(toy_dataset, None, spec, extractor, num_folds=2, seed=0, cache_dir=tmp_path, use_cpu=True)
    assert all(entry["model"].cached for entry in again)  # trained once, reused for every later request


def test_the_step_0_check_is_the_original_before_a_set_up_that_resets_layers(splits, trained, tmp_path):
    """reset-perturb re-initialises layers before its first step. The rule's utility baseline and its step-0 check
    are the untouched original's, so a target the original already meets ends the run on the original's weights, not
    on the reset model's."""
    from transformers import AutoModelForAudioClassification

    original = AutoModelForAudioClassification.from_pretrained(trained).state_dict()
    trainer = make(splits, trained, tmp_path, method="reset_perturb", stop_target_accuracy=1.0, max_steps=4)
    trainer.train()
    first = trainer.stopping.checks[0]
    assert first["step"] == 0 and first["utility"] == trainer.stopping.original_utility
    assert trainer.stopping.original_utility >= 0.9  # the trained toy model; its reset copy is near chance
    assert trainer.stopped_at_step == 0 and trainer.stopping.reached_at == 0
    for name, tensor in trainer.model.state_dict().items():
        assert torch.equal(tensor, original[name]), f"{name} is not the original's"
