"""The main job, `hf-unlearn demo`, end to end with small settings (built-in eSpeak data, a few epochs)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("espeakng_loader")


def test_demo_end_to_end(tmp_path, monkeypatch, capsys):
    """The default request, the keyword "yes", where the gold model cannot predict the class at all: the demo must
    train an original that learned the task, unlearn a copy that moves toward gold on the forget set while keeping
    retain accuracy, save it, and reuse the cached references on a second run. (The speaker request's privacy, a
    card that never names the voice, is checked by tests/test_hub.py's demo push.)"""
    import numpy as np
    import torch
    from safetensors.torch import load_file
    from transformers import pipeline

    from hf_unlearn.cli.main import main

    monkeypatch.setenv("HF_UNLEARN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "unlearned"
    argv = ["demo", "--method", "neggrad_plus", "--output-dir", str(out)]  # no forget option: the default request
    # keywords.json is tuned on the full 10 x 10 demo data; on this 3 x 3 subset one epoch over retain is a few steps,
    # too few to move the forget set.
    argv += ["--num_keywords", "3", "--num_voices", "3", "--original_epochs", "20", "--num_train_epochs", "3"]
    argv += ["--quiet"]
    import datasets

    datasets.enable_progress_bars()
    assert main(argv) == 0
    assert datasets.is_progress_bar_enabled()  # --quiet silences the run, not the caller's process afterwards
    printed = capsys.readouterr().out
    for model in ("original", "gold", "neggrad_plus"):
        assert f"| {model} |" in printed, model
    assert "| Forget Acc | Forget-test Acc |" in printed  # held-out recordings of the class too
    # The table is read out, and the speaker case is one flag away.
    assert "forget accuracy: original " in printed and "hf-unlearn demo --forget_speakers en-us+f1" in printed

    results = json.loads((out / "results.json").read_text())
    assert results["request"]["kind"] == "class" and "yes" not in json.dumps(results["arguments"])
    rows = results["rows"]
    original, gold, unlearned = rows["original"], rows["gold"], rows["neggrad_plus"]
    for row in rows.values():
        for key in ("forget_accuracy", "retain_accuracy", "test_accuracy", "test_f1", "mia"):
            assert 0.0 <= row[key] <= 1.0, key
    assert "gum" in unlearned and "cgum" in unlearned
    # The references did their job: the original learned the task, the gold model never predicts the forgotten class.
    assert original["retain_accuracy"] >= 0.9 and original["forget_accuracy"] >= 0.9, original
    assert gold["forget_accuracy"] == 0.0, gold
    # Unlearning moved forget accuracy toward gold's and kept retain accuracy.
    assert unlearned["forget_accuracy"] < original["forget_accuracy"], (original, unlearned)
    assert unlearned["retain_accuracy"] >= original["retain_accuracy"] - 0.1, (original, unlearned)

    for name in (
        "model.safetensors",
        "config.json",
        "preprocessor_config.json",
        "unlearning_config.json",
        "README.md",
        "results.md",
        "results.png",
    ):
        assert (out / name).exists(), name
    # The saved model is not the original's weights (cached apart, untouched): unlearning changed them.
    results = json.loads((out / "results.json").read_text())
    original_dir = tmp_path / "cache" / "references" / results["rows"]["original"]["reference"]["key"][:16]
    assert original_dir.is_dir()
    # The held-out MIA and the KL to gold reach the results (class request: forget_test holds the class's test clips).
    assert "mia_heldout" in unlearned and "kl_to_gold" in unlearned
    before, after = load_file(original_dir / "model.safetensors"), load_file(out / "model.safetensors")
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[name], after[name]) for name in before)

    classifier = pipeline("audio-classification", model=str(out))
    prediction = classifier(np.zeros(8000, dtype=np.float32), top_k=1)
    assert prediction[0]["label"] in ("yes", "no", "up")

    # Warm run: reference models come from the cache (the same figures), the unlearned model is rebuilt.
    assert main(argv) == 0
    assert "loaded from cache" in capsys.readouterr().out
    again = json.loads((out / "results.json").read_text())["rows"]
    for key in ("forget_accuracy", "retain_accuracy", "test_accuracy"):
        assert again["original"][key] == original[key] and again["gold"][key] == gold[key], key


def test_demo_rejects_bad_requests(tmp_path, monkeypatch):
    from hf_unlearn.cli.demo import parse_forget

    with pytest.raises(ValueError, match="speaker:NAME"):
        parse_forget("voice:bob")
    with pytest.raises(ValueError, match="fraction"):
        parse_forget("sample:lots")
    assert parse_forget("class:yes,no") == {"by": "class", "values": ["yes", "no"]}


@pytest.mark.slow
@pytest.mark.parametrize("method", [info.key for info in __import__("hf_unlearn").list_methods()])
def test_demo_runs_every_method(method, tmp_path_factory, monkeypatch):
    """Every registered method runs through the demo (one shared reference cache; a short unlearning run)."""
    from hf_unlearn.cli.main import main

    monkeypatch.setenv("HF_UNLEARN_CACHE", str(tmp_path_factory.getbasetemp() / "demo_every_method_cache"))
    out = tmp_path_factory.mktemp(method)
    argv = ["demo", "--method", method, "--forget_classes", "yes", "--output_dir", str(out), "--num_keywords", "3"]
    argv += ["--num_voices", "3", "--reference_epochs", "10", "--num_train_epochs", "2", "--quiet"]
    assert main(argv) == 0
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert 0.0 <= rows[method]["forget_accuracy"] <= 1.0
