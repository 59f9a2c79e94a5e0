"""The FSDD benchmark package (`hf_unlearn.benchmark`, `hf-unlearn benchmark`): end to end on a generated FSDD-like
folder (two seeds, two methods, a two-point grid), the tuner never reading test or forget_test, resume, and the tuner,
summary, README block, figure and cards on known inputs."""

from __future__ import annotations

import copy
import json
import os
from types import SimpleNamespace

import pytest
from conftest import tone_clip

from hf_unlearn import benchmark
from hf_unlearn.benchmark import group_summary as summary
from hf_unlearn.benchmark import loop, report_markdown, tuning
from hf_unlearn.benchmark import trials as trial_views

METHODS = ["finetune", "scrub"]  # retain-only, and teacher + forget


@pytest.fixture(scope="module")
def synthetic_fsdd(tmp_path_factory):
    """3 digits x 3 speakers x 15 takes of 8 kHz tones named like FSDD (takes 0-4 are FSDD's test split)."""
    import soundfile

    folder = tmp_path_factory.mktemp("fsdd") / "recordings"
    folder.mkdir()
    for digit, frequency in enumerate((300.0, 900.0, 2000.0)):
        for s, speaker in enumerate(("ann", "bob", "cid")):
            for take in range(15):
                clip = tone_clip(frequency, s, take, sampling_rate=8000)
                soundfile.write(folder / f"{digit}_{speaker}_{take}.wav", clip, 8000, subtype="PCM_16")
    return str(folder.parent)


class Poisoned:
    """Stands in for test / forget_test during tuning trials: any use of it fails the trial."""

    def __getattr__(self, name):
        raise AssertionError(f"a tuning trial read a reporting-only split ({name})")

    def __len__(self):
        raise AssertionError("a tuning trial read a reporting-only split (len)")


def run_benchmark_command(argv):
    """`hf-unlearn benchmark <argv>`, in this process."""
    from hf_unlearn.cli.main import main

    return main(["benchmark", *argv])


def test_benchmark_end_to_end_tunes_on_validation_only_and_resumes(
    synthetic_fsdd, tmp_path, monkeypatch, class_baselines
):
    import hf_unlearn.experiment as experiment

    real_run_request, real_run_job = experiment.run_request, loop.run_job
    calls, current, views = [], {}, []

    def spy_run_job(job):
        current["mode"] = job["mode"]
        return real_run_job(job)

    def spy_run_request(method, settings, splits, *args, **kwargs):
        names = sorted(splits.eval_splits())
        calls.append((current["mode"], method, names))
        if current["mode"] == "trial":
            # Nothing a trial evaluates is a reporting split, and the trial cannot touch them either.
            assert not set(names) & set(tuning.REPORTING_ONLY_SPLITS), names
            assert all(data is not splits.test for data in splits.eval_splits().values())
            splits = copy.copy(splits)
            splits.test = splits.forget_test = Poisoned()
        return real_run_request(method, settings, splits, *args, **kwargs)

    real_scores = tuning.trial_scores

    def spy_scores(view, standard_errors):
        views.append(dict(view))
        return real_scores(view, standard_errors)

    monkeypatch.setattr(experiment, "run_request", spy_run_request)
    monkeypatch.setattr(loop, "run_job", spy_run_job)
    monkeypatch.setattr(tuning, "trial_scores", spy_scores)
    out, cache = tmp_path / "out", tmp_path / "cache"
    argv = ["--dataset_name", synthetic_fsdd, "--output_dir", str(out), "--cache_dir", str(cache)]
    argv += ["--methods", *METHODS, "--kinds", "class", "--forget_classes", "0", "1", "--seeds", "0", "1"]
    # The grid: one learning rate x the two stopping targets (gold's forget-validation figures, and gold-free).
    argv += ["--tune_learning_rates", "1e-2", "--tune_targets", "reference", "unseen", "--tune_requests", "2"]
    argv += ["--stopping", "--stop_max_epochs", "1"]
    argv += ["--unlearning_max_steps", "2", "--reference_epochs", "2", "--validation_size", "0.3"]
    argv += ["--train_takes", "7"]
    argv += ["--num_workers", "0", "--no_write_settings", "--readme", str(tmp_path / "README.md")]
    (tmp_path / "README.md").write_text("# x\n")
    assert run_benchmark_command(argv) == 0

    trials = [c for c in calls if c[0] == "trial"]
    runs = [c for c in calls if c[0] == "run"]
    assert len(trials) == 2 * 2 * 2 and len(runs) == 2 * 2 * 2  # methods x grid x requests; requests x seeds x methods
    assert all("test" in names and "forget_test" in names for _, _, names in runs)
    assert all("forget_validation" in names for _, _, names in trials + runs)
    assert views and all(set(view) == set(tuning.VALIDATION_KEYS) for view in views)
    # Class requests: the tuner's utility baseline is the original that never names the class, in every trial.
    baselines = {v["original_retain_validation_accuracy"] for v in views}
    assert len(class_baselines) == len(trials) and baselines == set(class_baselines)

    result = json.loads((out / "fsdd.json").read_text())
    assert not result["errors"] and result["command"].startswith("hf-unlearn benchmark --dataset_name")
    record = result["tuning"]["kinds"]["class"]
    assert record["requests"] == ["digit 0", "digit 1"] and len(record["grid"]) == 2
    for method in METHODS:
        entry = record["methods"][method]
        assert len(entry["trials"]) == 4 and not any(t["error"] for t in entry["trials"])
        tuned = {
            key: entry["choice"]["settings"][key]
            for key in benchmark.TUNED_FIELDS
            if key in entry["choice"]["settings"]
        }
        assert tuned in record["grid"]
        assert entry["choice"]["settings"]["per_device_train_batch_size"] == 32  # the shipped settings' batch size
        # Every run of the method used the chosen setting (with the step cap of this test).
        used = {json.dumps(r["settings"], sort_keys=True) for r in result["runs"] if r["method"] == method}
        assert used == {json.dumps(entry["choice"]["settings"], sort_keys=True)}
    targets = {r["record"]["stopping"]["mode"] for r in result["runs"]}
    assert targets <= {"reference", "unseen"} and all(r["record"]["stopping"] for r in result["runs"])
    for run in result["runs"]:  # gold's target says how many forget-validation rows it was read on
        if run["record"]["stopping"]["mode"] == "reference":
            rows = run["record"]["gold"]["num_forget_validation"]
            assert f"on {rows} forget-validation rows (standard error" in run["record"]["stopping"]["source"]
    assert result["stopping_floor"]["class"] == 0.0  # two seeds' gold models both never name the forgotten digit
    rows = result["summary"]["class"]
    assert list(rows) == ["original", "gold", *METHODS]
    assert rows["gold"]["forget_accuracy"]["mean"] == 0.0  # gold never saw the forgotten digit
    for method in METHODS:
        cell = rows[method]["forget_accuracy_minus_gold"]
        assert cell["n"] == 4 and cell["std"] is not None
        assert rows[method]["time_share_of_gold"]["mean"] > 0
    assert set(result["targets_met"]["class"]) <= set(METHODS)
    assert (out / "fsdd.png").stat().st_size > 0 and "## class" in (out / "fsdd.md").read_text()
    assert report_markdown.README_START in (tmp_path / "README.md").read_text()
    report = (out / "fsdd.md").read_text()
    assert all(f"Stopping target `{mode}`, its own error against gold" in report for mode in targets)
    # How often each method's runs reached the target (a method that never does has no stopping point there).
    for method in METHODS:
        reached = [r["record"]["stopping"]["target_reached_at_step"] is not None for r in result["runs"]
                   if r["method"] == method]  # fmt: skip
        assert rows[method]["stop_reached"]["mean"] == pytest.approx(sum(reached) / len(reached))
        assert f"{method} {sum(reached) / len(reached):.0%} / " in report
    assert len(os.listdir(out / "runs")) == 8 and len(os.listdir(out / "tuning")) == 8

    # A rerun recomputes nothing; after deleting one run file, exactly that run is redone.
    calls.clear()
    assert run_benchmark_command(argv) == 0
    assert calls == []
    again = json.loads((out / "fsdd.json").read_text())
    assert again["runs"] == result["runs"] and again["summary"] == result["summary"]
    os.remove(out / "runs" / sorted(os.listdir(out / "runs"))[0])
    assert run_benchmark_command(argv) == 0
    assert [c[0] for c in calls] == ["run"]


def view(rv, fv=None, forget=1.0, original_rv=0.9, gold_fv=0.0, n_rv=100, n_fv=50):
    return {
        "retain_validation_accuracy": rv,
        "original_retain_validation_accuracy": original_rv,
        "num_retain_validation": n_rv,
        "forget_validation_accuracy": fv,
        "gold_forget_validation_accuracy": gold_fv if fv is not None else None,
        "num_forget_validation": n_fv if fv is not None else 0,
        "forget_accuracy": forget,
    }


def trials(by_setting: dict) -> list[dict]:
    """Two requests per setting `(epochs, lr) -> view`."""
    return [
        {"settings": {"num_train_epochs": e, "learning_rate": lr}, "request": r, "view": v}
        for (e, lr), v in by_setting.items()
        for r in ("a", "b")
    ]


def test_tuner_keeps_utility_prefers_forgetting_then_the_shortest():
    # Tolerance: 2 x sqrt(0.9 x 0.1 / 100) = 0.06.
    chosen = tuning.choose_setting(
        trials(
            {
                (1, 1e-4): view(rv=0.9, fv=0.8),  # kept, forgets nothing
                (1, 1e-3): view(rv=0.85, fv=0.015),  # kept (0.05 < 0.06), within 1 SE (0.02) of gold
                (2, 1e-3): view(rv=0.88, fv=0.0),  # kept, best, but within one SE of the above and longer
                (1, 1e-2): view(rv=0.5, fv=0.0),  # utility lost
            }
        )
    )
    assert chosen["settings"] == {"num_train_epochs": 1, "learning_rate": 1e-3} and chosen["utility_kept"]
    assert [c["utility_kept"] for c in chosen["candidates"]] == [True, True, False, True]
    far = tuning.choose_setting(trials({(1, 1e-3): view(rv=0.85, fv=0.3), (2, 1e-3): view(rv=0.88, fv=0.0)}))
    assert far["settings"]["num_train_epochs"] == 2  # not a near-tie: the longer run forgets more
    # Utility lost beyond the tolerance is paid twice: 0.34 past it costs 0.68, 0.24 past it 0.48 (+ 0.5 forgetting).
    none_kept = tuning.choose_setting(trials({(1, 1e-3): view(rv=0.5, fv=0.0), (2, 1e-3): view(rv=0.6, fv=0.5)}))
    assert none_kept["settings"]["num_train_epochs"] == 1 and not none_kept["utility_kept"]
    assert none_kept["score"] == pytest.approx(0.68)
    # Forgetting like gold one point past the tolerance beats keeping utility by forgetting nothing.
    slightly_past = tuning.choose_setting(trials({(1, 1e-4): view(rv=0.9, fv=0.8), (1, 1e-3): view(rv=0.83, fv=0.0)}))
    assert slightly_past["settings"]["learning_rate"] == 1e-3 and not slightly_past["utility_kept"]
    assert slightly_past["score"] == pytest.approx(0.02)


def test_tuner_sample_proxy_and_gold_free_score():
    # Sample requests: the forget set should be recognised no better than retain-validation.
    scores = tuning.trial_scores(view(rv=0.9, forget=0.97), 2.0)
    assert scores["forgetting"] == pytest.approx(0.07) and scores["gold_free"] == pytest.approx(0.07)
    scores = tuning.trial_scores(view(rv=0.9, fv=0.2, forget=0.5, gold_fv=0.1), 2.0)
    assert scores["forgetting"] == pytest.approx(0.1) and scores["gold_free"] == pytest.approx(0.3)
    assert tuning.binomial_standard_error(1.0, 50) == pytest.approx(1 / 50)  # a perfect original allows one error
    with pytest.raises(ValueError, match="validation figures only"):
        tuning.trial_scores({**view(rv=0.9), "test_accuracy": 0.5}, 2.0)
    with pytest.raises(ValueError, match="Every tuning trial failed"):
        tuning.choose_setting([{"settings": {}, "error": "boom"}])


def test_tuned_settings_go_to_the_one_settings_file(tmp_path):
    from hf_unlearn.experiment import SETTINGS_DIR

    path = tmp_path / "fsdd.json"
    shipped = open(os.path.join(SETTINGS_DIR, "fsdd.json")).read()
    path.write_text(shipped)
    choice = {"settings": {"learning_rate": 1e-3, "num_train_epochs": 2.0, "per_device_train_batch_size": 32}}
    record = {"class": {"methods": {"scrub": {"choice": choice}, "npo": {"error": "every trial failed"}}}}
    benchmark.write_settings(record, "hf-unlearn benchmark --x", str(path))
    written = json.loads(path.read_text())
    assert written["methods"]["scrub"]["class"] == {"learning_rate": 1e-3, "num_train_epochs": 2.0}
    # A method whose trials all failed keeps what the file held for it.
    assert written["methods"]["npo"] == json.loads(shipped)["methods"]["npo"]
    assert "hf-unlearn benchmark --x" in written["source"]


def test_benchmark_rejects_bad_arguments(synthetic_fsdd, tmp_path):
    with pytest.raises(ValueError, match="--dataset_name"):
        run_benchmark_command(["--quick"])
    with pytest.raises(ValueError, match="Unknown method"):
        run_benchmark_command(["--fsdd", synthetic_fsdd, "--methods", "forget_all", "--cache_dir", str(tmp_path)])
    with pytest.raises(ValueError, match="Unknown forget kind"):
        run_benchmark_command(["--fsdd", synthetic_fsdd, "--kinds", "voice"])
    with pytest.raises(ValueError, match=r"--lora_r: \['salun'\] do not run on a LoRA adapter"):
        run_benchmark_command(["--fsdd", synthetic_fsdd, "--methods", "scrub", "salun", "--lora_r", "8"])
    lora_methods = benchmark._check(benchmark.BenchmarkArguments(dataset_name="d", lora_r=8))
    assert "scrub" in lora_methods and not {"salun", "cf_k", "reset_perturb"} & set(lora_methods)
    args = benchmark.BenchmarkArguments(dataset_name="d", kinds=["speaker_id"], speaker_id_requests=2)
    requests = loop.build_requests(args, ["ann", "bob", "cid"])
    assert [(r["label"], r["split"]) for r in requests] == [
        ("speaker", {"by": "class", "values": ["ann"]}),
        ("speaker", {"by": "class", "values": ["bob"]}),
    ]


def test_shadows_from_seeds_are_the_other_seeds_gold_models(monkeypatch):
    from hf_unlearn.experiment.reference_cache import ReferenceModel

    loads = []

    def fake_references(args, request, seed, splits, shadow_models=None):
        assert shadow_models == 0  # borrowing trains nothing beyond the gold models
        loads.append(seed)
        return None, {"gold": ReferenceModel(f"gold-{request['name']}-seed{seed}", {}, "gold")}

    monkeypatch.setattr(loop, "_CACHE", {})  # nothing borrowed here outlives the test
    monkeypatch.setattr(loop, "_prepared", lambda args, label: (None, None))
    monkeypatch.setattr(loop, "request_splits", lambda data, request, seed, size, args=None: None)
    monkeypatch.setattr(loop, "_references", fake_references)
    args = benchmark.BenchmarkArguments(dataset_name="d", seeds=[0, 1, 2], shadows_from_seeds=True)
    speaker, sample = loop.build_requests(
        benchmark.BenchmarkArguments(dataset_name="d", kinds=["speaker", "sample"], forget_fraction=[0.1]), ["ann"]
    )
    shadows = loop.borrowed_shadows(args, speaker, seed=1)
    assert [s.path for s in shadows] == ["gold-speaker ann-seed0", "gold-speaker ann-seed2"]
    assert all(s.kind == "shadow" and s.own_extractor for s in shadows)
    assert loop.borrowed_shadows(args, sample, seed=1) == []  # another seed's gold may have trained on them
    assert [s.path for s in loop.borrowed_shadows(args, speaker, seed=1)] == [s.path for s in shadows]
    assert loads == [0, 2]  # the second run of the same (request, seed) reuses them
    args.shadows_from_seeds = False
    assert loop.borrowed_shadows(args, speaker, seed=1) == []


def stored_run(method, request, seed, forget_gap, test_gap, mia_gap, share, gold_forget=0.0):
    record = {
        "unlearned": {"forget_accuracy": gold_forget + forget_gap, "kl_to_gold": 0.1},
        "original": {"forget_accuracy": 1.0},
        "gold": {"forget_accuracy": gold_forget},
        "forget_accuracy_minus_gold": forget_gap,
        "test_accuracy_minus_gold": test_gap,
        "mia_heldout_minus_gold": mia_gap,
        "time_share_of_gold": share,
    }
    return {"group": "speaker", "request": request, "seed": seed, "method": method, "record": record}


def test_summary_targets_readme_figure_and_cards(tmp_path):
    runs = [
        stored_run("good", "speaker a", 0, 0.01, -0.004, 0.01, 0.02),
        stored_run("good", "speaker a", 1, -0.01, -0.006, 0.02, 0.03),
        stored_run("slow", "speaker a", 0, 0.0, 0.0, 0.0, 0.5),
        stored_run("slow", "speaker a", 1, 0.0, 0.0, 0.0, 0.4),
    ]
    runs[0]["card"] = "card good 0"
    runs[1]["card"] = "card good 1"
    result = summary.aggregate(runs)
    rows = result["speaker"]
    assert list(rows) == ["original", "gold", "good", "slow"]
    assert rows["gold"]["forget_accuracy"]["n"] == 2  # one per (request, seed), not per method
    assert rows["good"]["forget_accuracy_minus_gold"] == {"mean": 0.0, "std": pytest.approx(0.01414, abs=1e-4), "n": 2}
    assert summary.target_marks(rows["slow"]) == {"forget": True, "test": True, "mia": True, "time": False}
    assert summary.methods_meeting_targets(result) == {"speaker": ["good"]}
    lines = summary.gaps_table(rows).splitlines()
    assert lines[2].startswith("| original (no unlearning) |")  # what doing nothing scores, first
    assert lines[3].startswith("| good | 2 | 0.000 ± 0.014 | -0.005 ± 0.001 |") and lines[3].endswith("✓ ✓ ✓ ✓ |")
    assert lines[4].endswith("✓ ✓ ✓ ✗ |")
    assert summary.original_within_targets(result) == {"speaker": False}

    # A group where the original itself is within the forget, test and MIA targets says that they show nothing.
    lazy = copy.deepcopy(runs)
    for run in lazy:
        gaps = {"forget_accuracy_minus_gold": 0.01, "test_accuracy_minus_gold": 0.0, "mia_heldout_minus_gold": 0.01}
        run["record"]["original"].update(gaps)
    lazy_summary = summary.aggregate(lazy)
    assert summary.original_within_targets(lazy_summary) == {"speaker": True}
    lazy_result = {"command": "c", "date": "d", "runs": lazy, "summary": lazy_summary, "targets_met": {}}
    assert "cannot tell forgetting from doing nothing" in report_markdown.markdown_report(lazy_result)
    assert "cannot tell forgetting" not in report_markdown.markdown_report({**lazy_result, "summary": result})

    full = {"command": "hf-unlearn benchmark --x", "date": "d", "arguments": {"seeds": [0, 1]}, "summary": result}
    full["targets_met"] = summary.methods_meeting_targets(result)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report_markdown.README_START}\nSTALE\n{report_markdown.README_END}\nrest\n")
    assert report_markdown.update_readme(str(readme), report_markdown.readme_block(full))
    text = readme.read_text()
    assert "STALE" not in text and text.startswith("intro\n") and text.endswith("rest\n") and "| good | 2 |" in text
    assert not report_markdown.update_readme(str(readme), report_markdown.readme_block(full))  # idempotent
    # A second dataset's block gets markers of its own: both live in one file, each replaced in place.
    other = {**full, "arguments": {"seeds": [0, 1], "name": "keywords"}}
    assert report_markdown.update_readme(str(readme), report_markdown.readme_block(other))
    text = readme.read_text()
    assert text.count("<!-- fsdd-results:start -->") == 1 and text.count("<!-- keywords-results:start -->") == 1
    assert not report_markdown.update_readme(str(readme), report_markdown.readme_block(other))
    assert not report_markdown.update_readme(str(readme), report_markdown.readme_block(full))

    from hf_unlearn.benchmark.best_run_cards import write_best_cards
    from hf_unlearn.benchmark.figure import gaps_figure

    assert os.path.getsize(gaps_figure(result, str(tmp_path / "f.png"))) > 0
    paths = write_best_cards(result, runs, str(tmp_path / "cards"))
    assert [os.path.basename(p) for p in paths] == ["fsdd_speaker_good.md"]
    assert open(paths[0]).read() == "card good 0"  # the run closest to gold on the forget set (tie: first)


def test_recorded_command_holds_no_local_folder():
    from types import SimpleNamespace

    args = SimpleNamespace(dataset_name="/home/me/fsdd", cache_dir=None)
    public = benchmark.public_arguments(["--dataset_name", "/home/me/fsdd", "--seeds", "0"], args)
    assert public == ["--dataset_name", "path/to/free-spoken-digit-dataset", "--seeds", "0"]
    # Output folders: a machine's absolute path becomes a placeholder, a folder inside the repository stays.
    args = benchmark.BenchmarkArguments(dataset_name="/home/me/fsdd", output_dir="/scratch/me/out")
    args.model_cards_dir = "cards"
    argv = ["--output_dir", "/scratch/me/out", "--model_cards_dir", "cards"]
    assert benchmark.public_arguments(argv, args, benchmark.public_placeholders(args)) == [
        "--output_dir", "path/to/out", "--model_cards_dir", "cards"
    ]  # fmt: skip


def test_a_best_run_card_that_names_a_forgotten_speaker_is_withheld(tmp_path):
    """Speaker identification: the class is the person. A stored card naming the forgotten speaker (written before
    such requests were published as a count) is not published, and an earlier copy is removed; a card that counts is
    published, and other groups are untouched."""
    from hf_unlearn.benchmark.best_run_cards import write_best_cards

    def run(group, request, card):
        record = {"forget_accuracy_minus_gold": 0.0}
        return {"group": group, "request": request, "seed": 0, "method": "scrub", "record": record, "card": card}

    summary = {
        "speaker_id": {"original": {}, "gold": {}, "scrub": {"forget_accuracy_minus_gold": {"mean": 0.0}}},
        "class": {"original": {}, "gold": {}, "scrub": {"forget_accuracy_minus_gold": {"mean": 0.0}}},
    }
    stale = tmp_path / "fsdd_speaker_id_scrub.md"
    stale.write_text("- Forgotten classes: george\n")
    naming = [run("speaker_id", "speaker id george", "- Forgotten classes: george\n"), run("class", "digit 0", "0")]
    assert write_best_cards(summary, naming, str(tmp_path)) == [str(tmp_path / "fsdd_class_scrub.md")]
    assert not stale.exists()
    counting = [run("speaker_id", "speaker id george", "- Forgotten speakers: 1, not named\n")]
    assert write_best_cards(summary, counting, str(tmp_path)) == [str(stale)]
    assert "george" not in stale.read_text()


def test_speaker_requests_offer_the_unseen_target_only_with_held_out_speakers():
    args = SimpleNamespace(
        stopping=True, tune_targets=["reference", "unseen"], tune_learning_rates=[1e-3], stop_max_epochs=1,
        stop_interval=0.1, stop_retain_tolerance=None, tune_epochs=[1], tune_stop_standard_errors=[2.0],
    )  # fmt: skip
    modes = lambda grid: {setting["stop_target"] for setting in grid}  # noqa: E731
    assert modes(benchmark.kind_grid(args, "speaker")) == {"reference"}
    assert modes(benchmark.kind_grid(args, "speaker", has_unseen_speakers=True)) == {"reference", "unseen"}
    assert modes(benchmark.kind_grid(args, "class")) == {"reference", "unseen"}
    # The default tolerance adds no field (settings and job keys as before); several are a dimension of the grid.
    assert all("stop_retain_standard_errors" not in setting for setting in benchmark.kind_grid(args, "class"))
    args.tune_stop_standard_errors = [2.0, 4.0]
    grid = benchmark.kind_grid(args, "class")
    assert len(grid) == 4 and {s["stop_retain_standard_errors"] for s in grid} == {2.0, 4.0}
    args.stop_retain_tolerance = 0.03  # a fixed tolerance overrides the tuned one
    assert {s.get("stop_retain_tolerance") for s in benchmark.kind_grid(args, "class")} == {0.03}


def test_the_stopping_targets_own_error_is_reported_per_request_and_mode():
    def run(request, seed, method, mode, target, gold):
        stopping = {"mode": mode, "target_forget_accuracy": target, "stopped_at_step": 3}
        record = {"stopping": stopping, "gold": {"forget_accuracy": gold}, "forget_accuracy_minus_gold": 0.1}
        return {"group": "speaker", "request": request, "seed": seed, "method": method, "record": record}

    runs = [
        run("speaker a", 0, "scrub", "unseen", 0.70, 0.60),
        run("speaker a", 0, "salun", "unseen", 0.70, 0.60),  # same target: counted once
        run("speaker a", 1, "scrub", "unseen", 0.80, 0.60),
        run("speaker b", 0, "scrub", "unseen", 0.50, 0.60),
        run("speaker b", 0, "scrub", "reference", 0.65, 0.60),
    ]
    assert summary.stop_target_error(runs[0]["record"]) == pytest.approx(0.10)
    assert summary.stop_target_error({"gold": {"forget_accuracy": 0.5}}) is None
    lines = summary.target_error_lines({"runs": runs}, "speaker")
    assert len(lines) == 2 and summary.target_error_lines({"runs": runs}, "class") == []
    unseen = next(line for line in lines if "`unseen`" in line)
    assert "speaker a +0.150; speaker b -0.100; mean |error| 0.133" in unseen  # (0.1 + 0.2 + 0.1) / 3
    assert "speaker b +0.050; mean |error| 0.050" in next(line for line in lines if "`reference`" in line)
    assert summary.run_rows(runs[3])["scrub"]["stop_target_minus_gold"] == pytest.approx(-0.10)
    # Against the acceptance: what the target's error leaves of floor + 0.02 for landing, or that it leaves nothing.
    with_floor = {"runs": runs, "stopping_floor": {"speaker": 0.04}}
    reference, unseen = sorted(summary.target_error_lines(with_floor, "speaker"))
    assert "`reference`" in reference and "floor + 0.02 = 0.060: 0.010 left for landing on the target" in reference
    assert "`unseen`" in unseen and "0.060: a rule landing exactly on this target would not meet it" in unseen


def test_lora_runs_unlearn_an_adapter_keyed_and_tuned_apart_from_full_weights(synthetic_fsdd, tmp_path):
    from hf_unlearn.benchmark.benchmark_arguments import BenchmarkArguments

    out, cache = tmp_path / "out", tmp_path / "cache"
    argv = ["--dataset_name", synthetic_fsdd, "--output_dir", str(out), "--cache_dir", str(cache)]
    argv += ["--methods", "scrub", "--kinds", "class", "--forget_classes", "0", "--seeds", "0", "--no_tune"]
    argv += ["--unlearning_max_steps", "2", "--reference_epochs", "2", "--validation_size", "0.3"]
    argv += ["--train_takes", "7", "--num_workers", "0", "--readme", str(tmp_path / "README.md")]
    (tmp_path / "README.md").write_text("# x\n")
    assert run_benchmark_command(argv + ["--lora_r", "4"]) == 0
    assert run_benchmark_command(argv) == 0  # the same output folder: full-weight runs are not the LoRA ones
    records = [json.loads((out / "runs" / name).read_text())["record"] for name in sorted(os.listdir(out / "runs"))]
    assert len(records) == 2
    lora = [r["peft"] for r in records if r["peft"]]
    assert len(lora) == 1 and lora[0]["r"] == 4 and lora[0]["lora_alpha"] == 8
    assert 0 < lora[0]["trainable_parameters"] < lora[0]["total_parameters"]
    assert sum(r["peft"] is None for r in records) == 1
    assert len(os.listdir(cache)) == 2  # one original and one gold model, shared by both runs

    names = {
        benchmark.settings_name(BenchmarkArguments(dataset_name=synthetic_fsdd, **extra))
        for extra in ({}, {"lora_r": 8}, {"model_type": "audio-spectrogram-transformer"})
    }
    assert names == {"fsdd", "fsdd_lora", "fsdd_audio_spectrogram_transformer"}  # tuned settings never mix


def test_lora_vs_full_table_puts_both_modes_side_by_side_and_judges_the_lora_targets():
    import importlib.util

    spec = importlib.util.spec_from_file_location("lora_vs_full", os.path.join("perf", "lora_vs_full.py"))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    def result(forget_gap, test_gap, time_share, peft=None):
        runs = []
        for seed in (0, 1):
            record = {
                "forget_accuracy_minus_gold": forget_gap, "test_accuracy_minus_gold": test_gap,
                "time_share_of_gold": time_share, "peft": peft, "unlearned": {}, "original": {}, "gold": {},
            }  # fmt: skip
            runs.append({"group": "class", "request": "class go", "seed": seed, "method": "scrub", "record": record})
        return {"runs": runs, "command": "hf-unlearn benchmark"}

    full = result(0.0, -0.005, 0.04)
    lora = result(0.01, -0.02, 0.06, peft={"trainable_parameters": 30, "total_parameters": 1000})
    table = script.comparison_table(full, lora, time_share=0.10)
    rows = [line for line in table.splitlines() if line.startswith("| scrub")]
    assert rows == [
        "| scrub | full | 2 | +0.000 ± 0.000 | -0.005 ± 0.000 | 4.0 ± 0.0 % | 100.0 % | ✓ |",
        "| scrub | LoRA | 2 | +0.010 ± 0.000 | -0.020 ± 0.000 | 6.0 ± 0.0 % | 3.0 % | ✗ |",  # test gap too large
    ]
    assert "✓" in script.comparison_table(full, result(0.01, 0.0, 0.06, peft=lora["runs"][0]["record"]["peft"]))
    assert "✗" in script.comparison_table(full, result(0.01, 0.0, 0.11))  # over the time share
    with_salun = {"runs": full["runs"] + [{**run, "method": "salun"} for run in full["runs"]], "command": "c"}
    assert "| salun | LoRA | 0 | not run |" in script.comparison_table(with_salun, lora)  # it refuses adapters


def test_jobs_of_benchmarks_sharing_an_output_folder_never_share_a_file(synthetic_fsdd, tmp_path):
    """Two datasets both have a '1% of recordings' request, and a transformer or a LoRA run has the CNN's settings:
    their files must differ, or a resumed benchmark would take another one's runs (and references) for its own."""
    from hf_unlearn.benchmark.benchmark_arguments import BenchmarkArguments, resolve_defaults

    folder = tmp_path / "keywords"
    folder.mkdir()
    variants = {
        "fsdd": BenchmarkArguments(dataset_name=synthetic_fsdd),
        "fsdd ast": BenchmarkArguments(dataset_name=synthetic_fsdd, model_type="audio-spectrogram-transformer"),
        "fsdd lora": BenchmarkArguments(dataset_name=synthetic_fsdd, lora_r=8),
        "keywords": BenchmarkArguments(dataset_name=str(folder), data_layout="audiofolder", name="keywords"),
    }
    request = {"group": "sample", "name": "1% of recordings"}
    settings = {"learning_rate": 1e-3, "num_train_epochs": 1}
    runs, references = {}, {}
    for label, args in variants.items():
        args.name = args.name or "fsdd"
        runs[label] = loop.run_key(request, "scrub", 0, {**settings, **benchmark.run_key_extra(args)})
        references[label] = loop.run_key(request, None, 0, benchmark.run_key_extra(args, method_jobs=False))
    assert len(set(runs.values())) == 4
    assert references["fsdd"] == references["fsdd lora"]  # one set of reference models for both modes
    assert len(set(references.values())) == 3
    assert benchmark.run_key_extra(resolve_defaults(variants["fsdd"])) == {}  # FSDD's published keys stay


def test_a_class_requests_utility_baseline_is_the_original_never_naming_the_class():
    from datasets import Dataset

    # Row 2 (label 1) is named class 0 by the original, with class 1 second: the baseline gains it.
    logits = [[0.0, 2.0, 1.0], [0.0, 1.0, 3.0], [3.0, 2.0, 0.0], [3.0, 0.0, 2.0]]
    labels = [1, 2, 1, 1]
    evaluation = {"outputs": {"original": {"retain": (logits, labels)}}}
    splits = SimpleNamespace(kind="class", forget=Dataset.from_dict({"label": [0, 0]}))
    assert trial_views.class_removed_accuracy(evaluation, splits) == 0.75  # plain accuracy: 0.5
