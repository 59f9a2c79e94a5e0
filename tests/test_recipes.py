"""The package command `hf-unlearn unlearn` (`hf_unlearn.cli.unlearn`; `recipes/unlearn_audio_classification.py`
wraps it): `main()` with patched arguments on a tiny local checkpoint and generated data in every layout (FSDD, Speech
Commands, audiofolder, a dataset saved to disk), its argument parsing (`--method` first, `--config` YAML), the
generated YAML configs, `hf-unlearn tune`, two processes under `accelerate launch -m hf_unlearn.cli unlearn`, and the
Speech Commands loader."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import make_toy_dataset, tone_clip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "unlearn_audio_classification.py")


def load_module(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve string annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def recipe():
    """The command's module (what the recipe file re-exports)."""
    import hf_unlearn.cli.unlearn

    return hf_unlearn.cli.unlearn


def test_recipe_file_is_a_wrapper_of_the_package_command():
    wrapper = load_module(RECIPE, "unlearn_audio_classification")
    import hf_unlearn.cli.unlearn

    for name in ("main", "parse_arguments", "peft_config", "command"):
        assert getattr(wrapper, name) is getattr(hf_unlearn.cli.unlearn, name), name


def write_wav(path, array, sampling_rate):
    import soundfile

    os.makedirs(os.path.dirname(path), exist_ok=True)
    soundfile.write(path, array, sampling_rate, subtype="PCM_16")


FREQUENCIES = (300.0, 900.0, 2000.0)


def write_fsdd(folder, speakers=("ann", "bob", "cid"), takes=8, sampling_rate=8000):
    """`{digit}_{speaker}_{take}.wav` in `folder/recordings`: 3 digits (tones) x speakers x takes (0-4 are test)."""
    for digit, frequency in enumerate(FREQUENCIES):
        for s, speaker in enumerate(speakers):
            for take in range(takes):
                clip = tone_clip(frequency, s, take, sampling_rate)
                write_wav(os.path.join(folder, "recordings", f"{digit}_{speaker}_{take}.wav"), clip, sampling_rate)
    return str(folder)


SPEAKER_HASHES = ("0a1b2c3d", "1b2c3d4e", "2c3d4e5f", "3d4e5f60")


def write_speech_commands(folder, words=("no", "up", "yes"), utterances=4, sampling_rate=16000):
    """The Speech Commands layout, with `_background_noise_`, a `_silence_` folder and the two split lists."""
    for w, word in enumerate(words):
        for s, speaker in enumerate(SPEAKER_HASHES):
            for n in range(utterances):
                clip = tone_clip(FREQUENCIES[w], s, n, sampling_rate)
                write_wav(os.path.join(folder, word, f"{speaker}_nohash_{n}.wav"), clip, sampling_rate)
    noise = np.random.default_rng(0).standard_normal(sampling_rate).astype(np.float32) * 0.1
    write_wav(os.path.join(folder, "_background_noise_", "white_noise.wav"), noise, sampling_rate)
    for n in range(3):
        write_wav(os.path.join(folder, "_silence_", f"silence_{n}.wav"), noise * 0.01 * (n + 1), sampling_rate)
    # The last speaker is the test speaker, as in the release (lists name paths relative to the root).
    with open(os.path.join(folder, "testing_list.txt"), "w") as handle:
        handle.writelines(f"{word}/{SPEAKER_HASHES[-1]}_nohash_{n}.wav\n" for word in words for n in range(utterances))
    with open(os.path.join(folder, "validation_list.txt"), "w") as handle:
        handle.write(f"{words[0]}/{SPEAKER_HASHES[-2]}_nohash_0.wav\n")
    return str(folder)


def write_audiofolder(folder, sampling_rate=16000):
    """`train/` and `test/` folders with a metadata.csv each (file_name, label as a string, speaker)."""
    for split, takes in (("train", range(6)), ("test", range(6, 9))):
        lines = ["file_name,label,speaker"]
        for w, word in enumerate(("low", "mid", "high")):
            for s, speaker in enumerate(("ann", "bob", "cid")):
                for take in takes:
                    name = f"{word}_{speaker}_{take}.wav"
                    write_wav(
                        os.path.join(folder, split, name),
                        tone_clip(FREQUENCIES[w], s, take, sampling_rate),
                        sampling_rate,
                    )
                    lines.append(f"{name},{word},{speaker}")
        with open(os.path.join(folder, split, "metadata.csv"), "w") as handle:
            handle.write("\n".join(lines) + "\n")
    return str(folder)


def save_tiny_checkpoint(folder, num_labels=3, kind="cnn", sampling_rate=16000):
    """A tiny untrained checkpoint (model + feature extractor) to start the original and gold from."""
    from conftest import build_tiny_model

    if kind == "cnn":
        from hf_unlearn.models.mfcc_cnn import build_mfcc_cnn

        model, extractor = build_mfcc_cnn([f"c{i}" for i in range(num_labels)], sampling_rate=sampling_rate)
    else:
        model, extractor = build_tiny_model(kind, num_labels=num_labels)
    model.save_pretrained(folder)
    extractor.save_pretrained(folder)
    return str(folder)


COMMON = [
    "--reference_epochs",
    "2",
    "--reference_learning_rate",
    "3e-3",
    "--reference_batch_size",
    "16",
    "--early_stopping_patience",
    "1",
    "--max_steps",
    "2",
    "--per_device_train_batch_size",
    "8",
    "--use_cpu",
    "true",
    "--disable_tqdm",
    "true",
    "--report_to",
    "none",
]


def check_outputs(out, method, request_kind):
    results = json.loads((out / "results.json").read_text())
    assert results["method"] == method
    assert results["request"]["kind"] == request_kind
    assert set(results["rows"]) == {"original", "gold", method}
    for row in results["rows"].values():
        for key in ("forget_accuracy", "retain_accuracy", "test_accuracy", "test_f1", "forget_f1"):
            assert 0.0 <= row[key] <= 1.0, key
    assert results["rows"]["gold"]["train_time"] > 0
    assert results["rows"][method]["unlearning_time"] > 0
    for name in ("results.md", "results.png", "README.md", "unlearning_config.json"):
        assert (out / name).exists(), name
    assert (out / "model.safetensors").exists() or (out / "adapter_model.safetensors").exists()
    assert "| original |" in (out / "results.md").read_text()
    return results


def test_recipe_on_fsdd_folder_with_speaker_request_and_cached_references(recipe, tmp_path, capsys):
    data = write_fsdd(tmp_path / "fsdd")
    checkpoint = save_tiny_checkpoint(tmp_path / "ckpt", num_labels=10, sampling_rate=8000)  # FSDD has 10 digits
    out, refs = tmp_path / "out", tmp_path / "refs"
    argv = [
        "--method",
        "neggrad_plus",
        "--dataset_name",
        data,
        "--model_name_or_path",
        checkpoint,
        "--forget_speakers",
        "bob",
        "--output_dir",
        str(out),
        "--reference_dir",
        str(refs),
        *COMMON,
    ]
    results = recipe.main(argv)
    assert results["data_layout"] == "fsdd" and results["num_processes"] == 1
    check_outputs(out, "neggrad_plus", "speaker")
    # bob's training takes (5-7) of 3 digits are forgotten (or drawn as forget-validation before the request); his
    # takes 0-4 are held out as forget_test.
    assert results["request"]["num_forget"] + results["request"]["num_forget_validation"] == 9
    assert "forget_test_accuracy" in results["rows"]["gold"]
    assert "bob" not in (out / "README.md").read_text() and "bob" not in (out / "results.json").read_text()

    # One cache root, one folder per key (the key is recorded with each reference model's results).
    original_dir, gold_dir = (refs / results["rows"][kind]["reference"]["key"][:16] for kind in ("original", "gold"))
    assert (original_dir / "model.safetensors").exists() and (gold_dir / "model.safetensors").exists()
    # A second method on the same request: the original comes from the cache, the gold from --gold_model_path.
    stamp = os.path.getmtime(original_dir / "model.safetensors")
    argv[1], argv[argv.index(str(out))] = "scrub", str(tmp_path / "out2")
    again = recipe.main([*argv, "--temperature", "2.0", "--gold_model_path", str(gold_dir), "--relearn_steps", "2"])
    assert len(again["relearning"]["relearn_curve"]) == 3 and "relearn_auc_gap" in again["relearning"]
    assert os.path.getmtime(original_dir / "model.safetensors") == stamp
    assert json.loads((tmp_path / "out2" / "unlearning_config.json").read_text())["config"]["temperature"] == 2.0
    for model in ("original", "gold"):  # same models, same data: same results
        assert again["rows"][model]["test_f1"] == results["rows"][model]["test_f1"]
        assert again["rows"][model]["train_time"] == results["rows"][model]["train_time"]
    assert "gum" in again["rows"]["scrub"]

    # A sequential request: start from the first unlearned model; its audit log is carried over and extended.
    argv[argv.index(str(tmp_path / "out2"))] = str(tmp_path / "out3")
    recipe.main([*argv, "--original_model_path", str(out), "--gold_model_path", str(gold_dir)])
    log = (tmp_path / "out3" / "unlearning_log.jsonl").read_text().splitlines()
    assert len(log) == 2 and [json.loads(line)["method"] for line in log] == ["neggrad_plus", "scrub"]


def test_recipe_stops_at_a_fold_out_reference_target(recipe, tmp_path):
    """`--stop_target reference --fold_out_folds 2`: two fold-out models (speakers dealt into folds, cached beside the
    other references) give the speaker request its target; the stop is recorded in results.json and on the card."""
    data = write_fsdd(tmp_path / "fsdd")
    checkpoint = save_tiny_checkpoint(tmp_path / "ckpt", num_labels=10, sampling_rate=8000)
    out, refs = tmp_path / "out", tmp_path / "refs"
    argv = ["--method", "finetune", "--dataset_name", data, "--model_name_or_path", checkpoint]
    argv += ["--forget_speakers", "bob", "--output_dir", str(out), "--reference_dir", str(refs), *COMMON]
    results = recipe.main([*argv, "--stop_target", "reference", "--fold_out_folds", "2", "--stop_interval", "1"])
    stopping = results["runs"][0]["stopping"]
    assert stopping["mode"] == "reference" and "fold-out" in stopping["source"]
    assert 0.0 <= stopping["target_forget_accuracy"] <= 1.0 and stopping["stopped_at_step"] is not None
    assert "stopping rule" in (out / "README.md").read_text()
    # Three speakers in two folds: one fold holds one speaker, and its fold-out model is that speaker's gold model
    # (the same rows, seed and recipe: the same cache entry); the other is trained for the folds alone.
    kinds = [json.loads(p.read_text()).get("kind") for p in refs.glob("*/reference_training.json")]
    assert kinds.count("fold_out") == 1 and len(kinds) == 3, kinds


def test_recipe_on_speech_commands_layout_with_unslu_protocol(recipe, tmp_path):
    data = write_speech_commands(tmp_path / "sc")
    checkpoint = save_tiny_checkpoint(tmp_path / "ckpt", num_labels=4)
    out = tmp_path / "out"
    results = recipe.main(
        [
            "--method",
            "ng+",  # an alias
            "--dataset_name",
            data,
            "--model_name_or_path",
            checkpoint,
            "--forget_speaker_share",
            "0.2",
            "--min_speaker_utterances",
            "5",
            "--output_dir",
            str(out),
            *COMMON,
        ]
    )
    assert results["data_layout"] == "speech_commands"
    check_outputs(out, "neggrad_plus", "speaker")
    # One speaker with 3 words x 4 utterances (minus the one in validation_list, and those drawn as validation before
    # the request) reaches 20 % of training data.
    assert results["request"]["num_forget"] + results["request"]["num_forget_validation"] in (11, 12)
    assert results["rows"]["original"]["num_classes"] == 4  # no, up, yes and _silence_


def test_recipe_on_audiofolder_with_class_request_without_gold(recipe, tmp_path):
    data = write_audiofolder(tmp_path / "af")
    checkpoint = save_tiny_checkpoint(tmp_path / "ckpt")
    out = tmp_path / "out"
    results = recipe.main(
        [
            "--method",
            "finetune",
            "--dataset_name",
            data,
            "--model_name_or_path",
            checkpoint,
            "--train_gold",
            "false",
            "--forget_classes",
            "high",
            "--output_dir",
            str(out),
            *COMMON,
        ]
    )
    assert results["data_layout"] == "audiofolder"
    assert set(results["rows"]) == {"original", "finetune"}
    # 3 speakers x 6 takes of "high": forgotten, or drawn as forget-validation before the request.
    assert results["request"]["num_forget"] + results["request"]["num_forget_validation"] == 18
    assert "gum" not in results["rows"]["finetune"]  # no gold model, no GUM
    assert not (tmp_path / "out_references" / "gold").exists()
    assert (out / "results.png").exists() and (out / "model.safetensors").exists()


def test_recipe_on_dataset_saved_to_disk_with_sample_request_and_lora(recipe, tmp_path):
    data = make_toy_dataset(takes=4, num_classes=3)
    data.save_to_disk(str(tmp_path / "disk"))
    checkpoint = save_tiny_checkpoint(tmp_path / "ckpt", kind="wav2vec2")  # a transformer backbone too
    out = tmp_path / "out"
    results = recipe.main(
        [
            "--method",
            "gradient_ascent",
            "--dataset_name",
            str(tmp_path / "disk"),
            "--model_name_or_path",
            checkpoint,
            "--forget_fraction",
            "0.2",
            "--output_dir",
            str(out),
            *COMMON,
            # One epoch without early stopping (no evaluation or checkpoint per epoch) keeps wav2vec2 quick.
            "--reference_epochs",
            "1",
            "--early_stopping_patience",
            "0",
            # Unlearn LoRA adapters on the attention projections, the head trained in full.
            "--use_peft",
            "true",
            "--lora_target_modules",
            "q_proj",
            "v_proj",
            "--lora_modules_to_save",
            "classifier",
            "projector",
        ]
    )
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 8
    assert results["data_layout"] == "disk"
    check_outputs(out, "gradient_ascent", "sample")
    # 48 rows: 20 % held out as test (10), 10 % of the other 38 as validation (4), 20 % of the 34 left forgotten.
    assert results["request"]["num_test"] == 10 and results["request"]["num_validation"] == 4
    assert results["request"]["num_forget"] == 7 and results["request"]["num_forget_validation"] == 0
    assert "gum" in results["rows"]["gradient_ascent"]


# ------------------------------------------------------------------------------------------------ arguments
def test_method_is_parsed_first_so_its_fields_are_accepted(recipe):
    script, data, model, training = recipe.parse_arguments(
        ["--method", "scrub", "--temperature", "2.5", "--dataset_name", "x", "--forget_speakers", "a", "b"]
    )
    assert type(training).__name__ == "SCRUBConfig" and training.temperature == 2.5 and training.method == "scrub"
    assert data.forget_speakers == ["a", "b"]
    with pytest.raises(ValueError, match="temperature"):  # finetune has no temperature
        recipe.parse_arguments(["--method", "finetune", "--temperature", "2.5"])
    with pytest.raises(ValueError, match="--method"):
        recipe.parse_arguments(["--dataset_name", "x"])
    with pytest.raises(ValueError, match="Unknown unlearning method"):
        recipe.parse_arguments(["--method", "forget_everything"])


def test_yaml_config_gives_defaults_and_the_command_line_wins(recipe, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text('method: scrub\nlearning_rate: 1.0e-4\ntemperature: 3.0\nforget_classes: ["yes"]\n')
    _, data, _, training = recipe.parse_arguments(["--config", str(config), "--learning_rate", "2e-4"])
    assert training.method == "scrub" and training.temperature == 3.0 and training.learning_rate == 2e-4
    assert data.forget_classes == ["yes"]
    # --method on the command line overrides the YAML's, and the YAML's scrub field is then refused.
    with pytest.raises(ValueError, match="temperature"):
        recipe.parse_arguments(["--config", str(config), "--method", "finetune"])
    config.write_text("method: scrub\nforget_classes: [yes]\n")  # YAML 1.1 reads an unquoted yes as True
    with pytest.raises(ValueError, match="quote"):
        recipe.parse_arguments(["--config", str(config)])
    config.write_text("method: scrub\nlerning_rate: 1.0e-4\n")
    with pytest.raises(ValueError, match="lerning_rate"):
        recipe.parse_arguments(["--config", str(config)])


def test_forget_request_needs_exactly_one_option(recipe):
    from types import SimpleNamespace

    base = dict(forget_speakers=None, forget_classes=None, forget_fraction=None, forget_speaker_share=None)
    with pytest.raises(ValueError, match="exactly one"):
        recipe.forget_request(SimpleNamespace(**base, min_speaker_utterances=0))
    with pytest.raises(ValueError, match="exactly one"):
        recipe.forget_request(SimpleNamespace(**{**base, "forget_fraction": 0.1, "forget_classes": ["a"]}))
    request = recipe.forget_request(
        SimpleNamespace(**{**base, "forget_speaker_share": 0.025}, min_speaker_utterances=100)
    )
    assert request == {"by": "speaker", "forget_speaker_share": 0.025, "min_speaker_utterances": 100}


def test_use_peft_is_accepted_for_methods_that_run_on_adapters(recipe):
    """The recipe asks the trainer class (`peft_support`), not its signature: Bad Teaching runs on LoRA."""
    from hf_unlearn import get_trainer_class

    model_args = recipe.parse_arguments(
        ["--method", "bad_teaching", "--dataset_name", "x", "--forget_fraction", "0.1", "--use_peft", "true"]
    )[2]
    with pytest.raises(ValueError, match="lora_target_modules"):
        recipe.peft_config(model_args, get_trainer_class("bad_teaching"))
    model_args.lora_target_modules = ["q_proj", "v_proj"]
    for method in ("bad_teaching", "scrub", "gradient_ascent"):
        lora = recipe.peft_config(model_args, get_trainer_class(method))
        assert set(lora.target_modules) == {"q_proj", "v_proj"} and lora.r == model_args.lora_r
    model_args.use_peft = False
    assert recipe.peft_config(model_args, get_trainer_class("cf_k")) is None


@pytest.mark.parametrize("method", ["cf_k", "reset_perturb", "salun"])
def test_use_peft_refusal_gives_the_method_reason_before_any_work(method, recipe, tmp_path):
    from hf_unlearn import get_trainer_class

    note = get_trainer_class(method).peft_note
    assert note
    argv = ["--method", method, "--dataset_name", str(tmp_path / "nowhere"), "--forget_fraction", "0.1"]
    argv += ["--output_dir", str(tmp_path / "out"), "--use_peft", "true", "--lora_target_modules", "q_proj"]
    with pytest.raises(ValueError) as refusal:
        recipe.main(argv)  # refused before the (missing) data is read
    assert note in str(refusal.value) and "does not run on a PEFT adapter" in str(refusal.value)
    assert not (tmp_path / "out").exists()


def test_bad_data_arguments_are_explained(recipe, tmp_path):
    from types import SimpleNamespace

    args = SimpleNamespace(dataset_name=str(tmp_path / "nowhere"), data_layout="fsdd", dataset_config_name=None)
    with pytest.raises(ValueError, match="not a local folder"):
        recipe.load_audio_dataset(args, SimpleNamespace(cache_dir=None, token=None))
    args.data_layout = "zip"
    with pytest.raises(ValueError, match="data_layout"):
        recipe.load_audio_dataset(args, SimpleNamespace(cache_dir=None, token=None))


# --------------------------------------------------------------------------------------------------- configs
def test_generated_configs_are_up_to_date_and_parse_for_their_method(recipe):
    generate = load_module(os.path.join(ROOT, "recipes", "configs", "generate.py"), "generate_configs")
    expected = generate.expected_files()
    stale = [p for p, text in expected.items() if not os.path.exists(p) or open(p).read() != text]
    assert not stale, f"run `python recipes/configs/generate.py`: {len(stale)} config(s) out of date, e.g. {stale[:2]}"
    from hf_unlearn import list_methods

    assert len(expected) == 5 * len(list_methods())
    for path in expected:
        _, data, _, training = recipe.parse_arguments(["--config", path])
        assert training.method == os.path.basename(path)[: -len(".yaml")]
        assert training.learning_rate > 0
    # UnSLU-BENCH's rates for the transformer datasets (the method configs' "unslu" presets).
    unslu = {"finetune": 1e-4, "gradient_ascent": 5e-6, "neggrad_plus": 1e-6, "cf_k": 1e-4, "scrub": 5e-6}
    for method, rate in unslu.items():
        _, _, _, training = recipe.parse_arguments(
            ["--config", os.path.join(ROOT, "recipes", "configs", "fsc", f"{method}.yaml")]
        )
        assert training.learning_rate == rate, method


# ------------------------------------------------------------------------------------- Speech Commands loader
def test_load_speech_commands_layout(tmp_path, caplog):
    import logging

    from hf_unlearn.data import load_speech_commands

    folder = write_speech_commands(tmp_path / "sc", utterances=2)
    with caplog.at_level(logging.INFO, logger="hf_unlearn.data.speech_commands"):
        data = load_speech_commands(folder, decode_audio=False)
    assert "_background_noise_" in caplog.text
    assert data["train"].features["label"].names == ["_silence_", "no", "up", "yes"]
    assert set(data) == {"train", "validation", "test"}
    assert set(data["test"]["speaker"]) == {SPEAKER_HASHES[-1]} and len(data["validation"]) == 1
    train_speakers = set(data["train"]["speaker"])
    assert SPEAKER_HASHES[-1] not in train_speakers and "_silence_" in train_speakers
    assert not any("_background_noise_" in f for split in data.values() for f in split["file"])
    without = load_speech_commands(folder, decode_audio=False, include_silence=False)
    assert without["train"].features["label"].names == ["no", "up", "yes"]

    (tmp_path / "sc" / "yes" / "badly_named.wav").write_bytes(
        (tmp_path / "sc" / "yes" / f"{SPEAKER_HASHES[0]}_nohash_0.wav").read_bytes()
    )
    with pytest.raises(ValueError, match="nohash"):
        load_speech_commands(folder, strict_layout=True)
    with caplog.at_level(logging.WARNING, logger="hf_unlearn.data.speech_commands"):
        load_speech_commands(folder, decode_audio=False)
    assert "skipping" in caplog.text
    with pytest.raises(FileNotFoundError):
        load_speech_commands(tmp_path / "missing")


# ----------------------------------------------------------------------------------------------- processes
@pytest.mark.slow
@pytest.mark.distributed
def test_command_under_accelerate_launch_with_two_cpu_processes(tmp_path):
    """`accelerate launch ... -m hf_unlearn.cli unlearn`: the package's module, no script path, run from outside the
    source tree (PYTHONPATH names the checkout under test)."""
    data = write_fsdd(tmp_path / "fsdd")
    checkpoint = save_tiny_checkpoint(tmp_path / "ckpt", num_labels=10, sampling_rate=8000)
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *("--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no"),
        *("--dynamo_backend", "no"),
        "-m",
        "hf_unlearn.cli",
        "unlearn",
        "--method",
        "neggrad_plus",
        "--dataset_name",
        data,
        "--model_name_or_path",
        checkpoint,
        "--forget_speakers",
        "bob",
        "--output_dir",
        str(out),
        *COMMON,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT}
    completed = subprocess.run(command, capture_output=True, text=True, timeout=1200, cwd=tmp_path, env=env)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["num_processes"] == 2  # really two ranks, not one process training alone
    assert set(results["rows"]) == {"original", "gold", "neggrad_plus"}
    # bob's 9 training recordings: the request's forget rows plus its forget-validation rows (drawn before the request)
    assert results["request"]["num_forget"] + results["request"]["num_forget_validation"] == 9


# ------------------------------------------------------------------------------------- shipped configs, defaults
def test_help_lists_the_experiment_options(recipe, capsys):
    with pytest.raises(SystemExit):
        recipe.parse_arguments(["--method", "scrub", "--help"])
    printed = capsys.readouterr().out
    for option in (
        "--forget_speakers", "--forget_classes", "--forget_fraction", "--dataset_name", "--output_dir",
        "--reference_epochs", "--num_threads", "--shadow_models", "--label_column", "--normalize", "--num_frames",
        "--hop_length", "--method_settings", "--temperature",
    ):  # fmt: skip
        assert option in printed, option


def test_mfcc_cnn_without_flags_takes_the_settings_file_per_request_kind(recipe):
    from hf_unlearn.experiment import method_settings, reference_defaults

    for request, kind in ((["--forget_classes", "0"], "class"), (["--forget_fraction", "0.1"], "sample")):
        script, _, _, training = recipe.parse_arguments(
            ["--method", "neggrad_plus", "--model_type", "mfcc_cnn", *request]
        )
        expected = method_settings("neggrad_plus", "fsdd", kind)
        assert training.learning_rate == expected["learning_rate"], kind
        assert training.num_train_epochs == expected["num_train_epochs"], kind
    assert script.reference_learning_rate is None  # the model type's reference defaults apply
    assert reference_defaults("mfcc_cnn")["learning_rate"] != reference_defaults(None)["learning_rate"]
    # The command line wins over the settings file.
    _, _, _, training = recipe.parse_arguments(
        ["--method", "neggrad_plus", "--model_type", "mfcc_cnn", "--forget_classes", "0", "--learning_rate", "0.5"]
    )
    assert training.learning_rate == 0.5


def test_shipped_fsdd_config_with_a_class_request_and_speaker_identification(recipe, tmp_path):
    """The shipped FSDD config holds no request: `--forget_classes 0` works as given; the MFCC features are fitted
    on the training rows; shadow models give LiRA; `--label_column speaker` turns it into speaker identification."""
    from transformers import AutoFeatureExtractor

    from hf_unlearn.experiment import method_settings

    data = write_fsdd(tmp_path / "fsdd")
    config = os.path.join(ROOT, "recipes", "configs", "fsdd", "neggrad_plus.yaml")
    tiny = ["--reference_epochs", "2", "--early_stopping_patience", "1", "--max_steps", "2", "--num_threads", "1"]
    tiny += ["--reference_dir", str(tmp_path / "refs"), "--disable_tqdm", "true"]
    out = tmp_path / "digit"
    argv = ["--config", config, "--dataset_name", data, "--forget_classes", "0", "--output_dir", str(out)]
    results = recipe.main([*argv, *tiny, "--shadow_models", "2"])
    check_outputs(out, "neggrad_plus", "class")
    run = results["runs"][0]
    assert run["settings"]["learning_rate"] == method_settings("neggrad_plus", "fsdd", "class")["learning_rate"]
    for key in ("mia_heldout", "kl_to_gold", "lira_auc"):
        assert key in results["rows"]["neggrad_plus"], key
    extractor = AutoFeatureExtractor.from_pretrained(str(out))
    assert extractor.normalize == "dataset" and extractor.is_fitted

    out = tmp_path / "speaker"
    argv = ["--config", config, "--dataset_name", data, "--label_column", "speaker", "--forget_classes", "bob"]
    results = recipe.main([*argv, "--output_dir", str(out), "--normalize", "per_clip", *tiny])
    # Speaker labels: speaker identification, with its own tuned settings; the speaker is never published.
    check_outputs(out, "neggrad_plus", "speaker_id")
    expected = method_settings("neggrad_plus", "fsdd", "speaker_id")
    assert expected != method_settings("neggrad_plus", "fsdd", "class")
    run = results["runs"][0]
    assert (run["settings"]["learning_rate"], run["settings"]["num_train_epochs"]) == (
        expected["learning_rate"],
        expected["num_train_epochs"],
    )
    assert "bob" not in (out / "README.md").read_text() and "bob" not in (out / "results.json").read_text()
    assert "| Forget-test Acc |" in (out / "results.md").read_text()  # bob's held-out takes
    assert results["rows"]["original"]["num_classes"] == 3  # ann, bob, cid
    # bob's training takes 5-7 of 3 digits, as forget rows or forget-validation.
    assert results["request"]["num_forget"] + results["request"]["num_forget_validation"] == 9
    assert AutoFeatureExtractor.from_pretrained(str(out)).normalize == "per_clip"


def test_recipe_draws_the_benchmark_splits_and_reference_keys_on_fsdd(recipe, tmp_path, monkeypatch):
    """`--forget_classes 1 --seed 0` on an FSDD folder: the recipe's rows (validation drawn before the request) are the
    benchmark's, and so are the reference models' cache keys (same spec, fitted extractor, rows and seed)."""
    import hf_unlearn.experiment
    from hf_unlearn.benchmark.benchmark_arguments import BenchmarkArguments
    from hf_unlearn.benchmark.loop import _extractor, _prepared, request_splits
    from hf_unlearn.benchmark.trials import validation_splits
    from hf_unlearn.experiment.reference_cache import original_training_rows, reference_key

    data = write_fsdd(tmp_path / "fsdd")
    seen = {}

    class Stop(Exception):
        pass

    def capture(splits, spec, extractor, seed=0, **kwargs):
        seen.update(splits=splits, spec=spec, extractor=extractor, seed=seed)
        raise Stop

    monkeypatch.setattr(hf_unlearn.experiment, "reference_models", capture)
    argv = ["--method", "neggrad_plus", "--model_type", "mfcc_cnn", "--dataset_name", data, "--forget_classes", "1"]
    with pytest.raises(Stop):
        recipe.main([*argv, "--seed", "0", "--output_dir", str(tmp_path / "out"), "--num_threads", "1"])
    ours = seen["splits"]

    args = BenchmarkArguments(dataset_name=data, output_dir=str(tmp_path / "bench"))
    bench_data, spec = _prepared(args, "digit")
    theirs = request_splits(bench_data, {"split": {"by": "class", "values": ["1"]}}, 0, args.validation_size)
    for name in ("forget", "retain", "retain_eval", "test", "forget_test", "validation", "forget_validation"):
        ours_rows, their_rows = getattr(ours, name), getattr(theirs, name)
        assert (ours_rows is None) == (their_rows is None), name
        assert ours_rows is None or ours_rows.to_dict() == their_rows.to_dict(), name
    assert ours.forget_indices == theirs.forget_indices and ours.retain_eval_indices == theirs.retain_eval_indices
    assert "forget_validation" in validation_splits(theirs)
    assert len(ours.validation) == round(0.1 * len(bench_data["train"]))

    def key(spec, extractor, splits):
        return reference_key(spec, extractor, original_training_rows(splits), 0, splits.validation)

    assert seen["seed"] == 0
    assert key(seen["spec"], seen["extractor"], ours) == key(spec, _extractor(spec, theirs), theirs)


MFCC = ["--model_type", "mfcc_cnn", "--num_threads", "1", *COMMON]


def test_recipe_refuses_a_copy_on_both_sides_before_any_reference_model(recipe, tmp_path, monkeypatch):
    import shutil

    from datasets import concatenate_datasets

    import hf_unlearn.data

    refs = tmp_path / "refs"
    argv = ["--method", "finetune", "--reference_dir", str(refs), "--output_dir", str(tmp_path / "out"), *MFCC]
    # FSDD folders group rows by file and identical audio: the split itself refuses a copy on both sides.
    fsdd = write_fsdd(tmp_path / "fsdd")
    shutil.copyfile(tmp_path / "fsdd" / "recordings" / "0_ann_5.wav", tmp_path / "fsdd" / "recordings" / "1_ann_5.wav")
    with pytest.raises(ValueError, match="would split them"):
        recipe.main([*argv, "--dataset_name", fsdd, "--forget_classes", "0"])

    # Splits that let a forget recording through to the retain set (as hand-made ones can): the request check.
    make_request_splits = hf_unlearn.data.make_request_splits

    def leaky(*args, **kwargs):
        splits = make_request_splits(*args, **kwargs)
        splits.retain = concatenate_datasets([splits.retain, splits.forget.select([0])])
        return splits

    monkeypatch.setattr(hf_unlearn.data, "make_request_splits", leaky)
    data = write_audiofolder(tmp_path / "af")
    with pytest.raises(ValueError, match="appear in both the forget and the retain set"):
        recipe.main([*argv, "--dataset_name", data, "--forget_classes", "low"])
    assert not list(refs.rglob("model.safetensors")) and not list(refs.rglob("features-*"))
    assert not (tmp_path / "out").exists()


def test_recipe_refuses_to_write_into_the_original_folder(recipe, tmp_path):
    import hashlib

    data = write_fsdd(tmp_path / "fsdd")
    checkpoint = save_tiny_checkpoint(tmp_path / "ckpt", num_labels=3, sampling_rate=8000)

    def digest():
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((tmp_path / "ckpt").iterdir())}

    before = digest()
    argv = ["--method", "finetune", "--dataset_name", data, "--forget_classes", "0", *COMMON]
    for output_dir in (checkpoint, str(tmp_path / "ckpt" / ".." / "ckpt")):
        with pytest.raises(ValueError, match="original model's folder"):
            recipe.main([*argv, "--original_model_path", checkpoint, "--output_dir", output_dir])
    assert digest() == before


def test_second_recipe_run_reuses_cached_features(recipe, tmp_path, monkeypatch):
    import hf_unlearn.data.features as features

    data = write_fsdd(tmp_path / "fsdd", takes=7)
    cache = tmp_path / "features"
    common = ["--method", "finetune", "--dataset_name", data, "--forget_classes", "1", "--reference_dir"]
    common += [str(tmp_path / "refs"), "--features_cache_dir", str(cache), *MFCC]
    calls = []
    row_audio = features._row_audio
    monkeypatch.setattr(features, "_row_audio", lambda *args: calls.append(args[1]) or row_audio(*args))

    first = recipe.main([*common, "--output_dir", str(tmp_path / "out1")])
    folders = sorted(cache.glob("features-*"))
    stamps = [os.path.getmtime(folder) for folder in folders]
    assert calls and len(folders) >= 5  # training rows, forget, retain, validation and the evaluation splits
    calls.clear()
    features._cache.clear()  # a new process: only the disk cache is left
    second = recipe.main([*common, "--output_dir", str(tmp_path / "out2")])
    assert calls == []  # no clip was featurized again: references, unlearning and evaluation read the cache
    assert sorted(cache.glob("features-*")) == folders and [os.path.getmtime(f) for f in folders] == stamps
    assert second["rows"]["original"]["test_accuracy"] == first["rows"]["original"]["test_accuracy"]


def test_recipe_on_speech_commands_folder_without_split_lists_holds_out_by_speaker(recipe, tmp_path, monkeypatch):
    import hf_unlearn.experiment.prepare as prepare
    from hf_unlearn.data.speech_commands import speaker_split

    by_split, n = {"train": [], "validation": [], "test": []}, 0
    while len(by_split["train"]) < 4 or not by_split["validation"] or not by_split["test"]:
        speaker = f"{n:08x}"
        bucket = by_split[speaker_split(speaker)]
        if len(bucket) < (4 if bucket is by_split["train"] else 1):
            bucket.append(speaker)
        n += 1
    speakers = [s for split in by_split.values() for s in split]
    folder = tmp_path / "sc"
    for w, word in enumerate(("no", "up", "yes")):
        for s, speaker in enumerate(speakers):
            for u in range(3):
                # Half the speakers in the {word}_{speaker}_nohash_{n} variant of public copies.
                name = f"{word}_{speaker}_nohash_{u}.wav" if s % 2 else f"{speaker}_nohash_{u}.wav"
                write_wav(str(folder / word / name), tone_clip(FREQUENCIES[w], s, u, 16000), 16000)
    write_wav(str(folder / "no" / "recording 1.wav"), tone_clip(FREQUENCIES[0], 0, 9, 16000), 16000)
    argv = ["--method", "finetune", "--dataset_name", str(folder), "--forget_classes", "up", *MFCC]
    argv += ["--reference_dir", str(tmp_path / "refs"), "--output_dir", str(tmp_path / "out")]
    with pytest.raises(ValueError, match="do not match the Speech Commands name pattern"):
        recipe.main([*argv, "--strict_layout", "true"])

    seen = {}
    check_splits = prepare.check_splits
    monkeypatch.setattr(
        prepare, "check_splits", lambda splits, *a: seen.update(splits=splits) or check_splits(splits, *a)
    )
    results = recipe.main(argv)
    assert results["data_layout"] == "speech_commands"
    splits = seen["splits"]
    training = set(splits.forget["speaker"]) | set(splits.retain["speaker"])
    assert training == set(by_split["train"])
    assert set(splits.test["speaker"]) == set(by_split["test"])
    assert set(splits.validation["speaker"]) == set(by_split["validation"])
    assert len(splits.forget) + len(splits.retain) == 4 * 3 * 3  # every training clip, the misnamed one skipped


# ------------------------------------------------------------------------------------------------------- tune
def test_tune_writes_a_settings_file_that_unlearn_reads(tmp_path, monkeypatch, class_baselines):
    """`hf-unlearn tune` on a tiny FSDD folder: every trial sees validation splits only (never test or forget_test),
    the choice lands in the settings file under the request kind, and `unlearn --method_settings FILE` uses it."""
    import hf_unlearn.experiment
    from hf_unlearn.cli.main import main as cli_main
    from hf_unlearn.cli.tune import main as tune

    data = write_fsdd(tmp_path / "fsdd")
    seen = []
    run_request = hf_unlearn.experiment.run_request

    def spy(method, settings, splits, *args, **kwargs):
        seen.append(sorted(splits.eval_splits()))
        return run_request(method, settings, splits, *args, **kwargs)

    monkeypatch.setattr(hf_unlearn.experiment, "run_request", spy)
    settings_file = tmp_path / "mine.json"
    argv = ["--method", "finetune", "--dataset_name", data, "--forget_classes", "1", *MFCC]
    # A larger validation share, so that the class has held-out validation rows on this tiny folder.
    argv += [
        "--validation_size",
        "0.3",
        "--reference_dir",
        str(tmp_path / "refs"),
        "--output_dir",
        str(tmp_path / "tuning"),
    ]
    grid = ["--tune_learning_rates", "1e-4", "3e-3", "--tune_epochs", "1"]
    result = tune([*argv, "--settings_file", str(settings_file), *grid])
    assert len(seen) == 2 and all(split not in names for names in seen for split in ("test", "forget_test"))
    assert "forget_validation" in seen[0]  # the class's held-out validation rows: the gold comparison
    # A class request's utility baseline is the original that never names the class, as in the benchmark's tuner.
    baselines = [trial["view"]["original_retain_validation_accuracy"] for trial in result["trials"]]
    assert len(class_baselines) == 2 and baselines == class_baselines
    chosen = result["choice"]["settings"]
    written = json.loads(settings_file.read_text())["methods"]["finetune"]["class"]
    assert written == chosen and chosen["learning_rate"] in (1e-4, 3e-3)
    assert (tmp_path / "tuning" / "tuning.json").exists()

    # The file is the unlearn command's defaults (the command line still wins), here on a second class.
    out = tmp_path / "out"
    argv[argv.index("1")] = "2"
    argv[argv.index(str(tmp_path / "tuning"))] = str(out)
    monkeypatch.setattr(hf_unlearn.experiment, "run_request", run_request)
    assert cli_main(["unlearn", *argv, "--method_settings", str(settings_file)]) == 0
    settings = json.loads((out / "results.json").read_text())["runs"][0]["settings"]
    assert settings["learning_rate"] == chosen["learning_rate"]
    assert settings["num_train_epochs"] == chosen["num_train_epochs"]
