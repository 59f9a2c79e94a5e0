"""The main job, `hf-unlearn demo`, end to end with small settings (built-in eSpeak data, a few epochs)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("espeakng_loader")


def test_demo_end_to_end(tmp_path, monkeypatch, capsys):
    from transformers import pipeline

    from hf_unlearn.cli import main

    monkeypatch.setenv("HF_UNLEARN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "unlearned"
    argv = [
        "demo",
        "--method",
        "neggrad_plus",
        "--forget",
        "speaker:en-us+f1",
        "--output-dir",
        str(out),
        "--num_keywords",
        "3",
        "--num_voices",
        "3",
        "--original_epochs",
        "5",
        "--quiet",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| original |" in printed and "| gold |" in printed and "| neggrad_plus |" in printed

    results = json.loads((out / "results.json").read_text())
    for row in ("original", "gold", "neggrad_plus"):
        for key in ("forget_accuracy", "retain_accuracy", "test_accuracy", "test_f1", "mia"):
            assert 0.0 <= results["rows"][row][key] <= 1.0, (row, key)
    assert "gum" in results["rows"]["neggrad_plus"] and "cgum" in results["rows"]["neggrad_plus"]
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
    card = (out / "README.md").read_text()
    assert "en-us+f1" not in card, "the model card must not name the forgotten speaker"

    classifier = pipeline("audio-classification", model=str(out))
    import numpy as np

    prediction = classifier(np.zeros(8000, dtype=np.float32), top_k=1)
    assert prediction[0]["label"] in ("yes", "no", "up")

    # Warm run: reference models come from the cache, the unlearned model is rebuilt.
    assert main(argv) == 0
    assert "loaded from cache" in capsys.readouterr().out


def test_demo_rejects_bad_requests(tmp_path, monkeypatch):
    from hf_unlearn.demo import parse_forget

    with pytest.raises(ValueError, match="speaker:NAME"):
        parse_forget("voice:bob")
    with pytest.raises(ValueError, match="fraction"):
        parse_forget("sample:lots")
    assert parse_forget("class:yes,no") == {"by": "class", "values": ["yes", "no"]}
