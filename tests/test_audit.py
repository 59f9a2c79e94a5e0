"""Sequential requests and the audit log: each run appends one line to `unlearning_log.jsonl`, the newest model
carries the history, no identities are logged, and the original checkpoint's files stay byte-identical."""

from __future__ import annotations

import hashlib
import json

from conftest import build_tiny_model

from hf_unlearn import UnlearningConfig, UnlearningTrainer, make_forget_split


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def unlearn(model_dir, request, output_dir, gold=None):
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    trainer = UnlearningTrainer(
        method="neggrad_plus",
        model=AutoModelForAudioClassification.from_pretrained(model_dir),
        args=UnlearningConfig(
            output_dir=str(output_dir), max_steps=2, use_cpu=True, report_to="none", disable_tqdm=True
        ),
        forget_dataset=request.forget,
        retain_dataset=request.retain,
        eval_dataset=request.eval_splits(),
        processing_class=AutoFeatureExtractor.from_pretrained(model_dir),
        forget_request=request,
        original_results={"forget_accuracy": 0.9, "test_accuracy": 0.8},
    )
    trainer.train()
    trainer.evaluate()
    trainer.save_model()
    return trainer


def test_two_sequential_requests_build_one_log(toy_dataset, tmp_path):
    model, extractor = build_tiny_model("cnn")
    original = tmp_path / "original"
    model.save_pretrained(original)
    extractor.save_pretrained(original)
    before = _digest(original)

    first = make_forget_split(toy_dataset, by="speaker", values=["ann"], test_size=0.25, seed=0)
    unlearn(original, first, tmp_path / "after_ann")
    # The second request starts from the first unlearned model; its retain set excludes both speakers.
    remaining = toy_dataset.filter(lambda row: row["speaker"] != "ann")
    second = make_forget_split(remaining, by="speaker", values=["bob"], test_size=0.25, seed=0)
    unlearn(tmp_path / "after_ann", second, tmp_path / "after_bob")

    first_log = (tmp_path / "after_ann" / "unlearning_log.jsonl").read_text().splitlines()
    log = (tmp_path / "after_bob" / "unlearning_log.jsonl").read_text()
    entries = [json.loads(line) for line in log.splitlines()]
    assert len(first_log) == 1 and len(entries) == 2
    assert entries[0] == json.loads(first_log[0])
    assert [e["method"] for e in entries] == ["neggrad_plus", "neggrad_plus"]
    assert all(e["request"]["kind"] == "speaker" for e in entries)
    assert entries[0]["request"]["digest"] != entries[1]["request"]["digest"]
    assert entries[1]["request"]["num_forget"] == len(second.forget)
    assert entries[1]["metrics_before"]["forget_accuracy"] == 0.9
    assert set(entries[1]["metrics_after"]) >= {"forget_accuracy", "test_accuracy"}
    assert "torch" in entries[1]["versions"]
    for secret in ("ann", "bob", str(tmp_path)):
        assert secret not in log, f"{secret!r} leaked into the audit log"
    assert _digest(original) == before, "the original checkpoint was modified"
    assert not (original / "unlearning_log.jsonl").exists()


def test_saving_twice_keeps_one_line_per_run(toy_dataset, tmp_path):
    model, extractor = build_tiny_model("cnn")
    original = tmp_path / "original"
    model.save_pretrained(original)
    extractor.save_pretrained(original)
    request = make_forget_split(toy_dataset, by="speaker", values=["ann"], test_size=0.25, seed=0)
    trainer = unlearn(original, request, tmp_path / "out")
    trainer.save_model()
    assert len((tmp_path / "out" / "unlearning_log.jsonl").read_text().splitlines()) == 1
