"""A short unlearning run on real recordings: the Free Spoken Digit Dataset at `$HF_UNLEARN_FSDD` (CI sets it when the
data is at hand; the test skips cleanly otherwise). About half a minute on two CPU cores.

Four digits, takes 5-19 of every speaker for training (FSDD's takes 0-4 are its test split). A small MFCC CNN learns
them, then NG+ forgets digit 1: its held-out recordings must go from recognised to mostly not, while the three kept
digits stay well above chance (1/3).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FSDD = Path(os.environ.get("HF_UNLEARN_FSDD", "path/to/free-spoken-digit-dataset"))

pytestmark = pytest.mark.skipif(
    not (FSDD / "recordings").is_dir(), reason=f"FSDD not found at {FSDD}: set HF_UNLEARN_FSDD"
)


def test_neggrad_plus_forgets_a_digit_of_real_fsdd(tmp_path):
    from datasets import concatenate_datasets

    from hf_unlearn import UnlearningTrainer, make_forget_split
    from hf_unlearn.data import load_fsdd
    from hf_unlearn.experiment.reference_cache import fit_extractor
    from hf_unlearn.experiment.reference_training import train_classifier
    from hf_unlearn.methods.neggrad_plus import NegGradPlusConfig
    from hf_unlearn.models.mfcc_cnn import build_mfcc_cnn

    data = load_fsdd(FSDD)
    for name in ("train", "test"):
        data[name] = data[name].filter(lambda label, take: label < 4 and take < 20, input_columns=["label", "take"])
    splits = make_forget_split(data, by="class", values=["1"], group_column="file", retain_eval_size=0.1, seed=0)
    assert set(splits.forget["label"]) == set(splits.forget_test["label"]) == {1}
    assert 1 not in set(splits.retain["label"]) | set(splits.test["label"])

    names = data["train"].features["label"].names
    original_rows = concatenate_datasets([splits.forget, splits.retain])
    extractor = fit_extractor(build_mfcc_cnn(names, sampling_rate=8000)[1], original_rows)
    model, _ = build_mfcc_cnn(names, feature_extractor=extractor)
    model, _ = train_classifier(
        model, extractor, original_rows, str(tmp_path / "original"), num_train_epochs=12, learning_rate=3e-3,
        batch_size=32, seed=0, use_cpu=True, disable_tqdm=True,
    )  # fmt: skip

    args = NegGradPlusConfig(
        output_dir=str(tmp_path / "unlearned"), num_train_epochs=1, learning_rate=6e-4, per_device_train_batch_size=32,
        use_cpu=True, report_to="none", seed=0, disable_tqdm=True,
    )  # fmt: skip
    trainer = UnlearningTrainer(
        method="neggrad_plus", model=model, args=args, forget_dataset=splits.forget, retain_dataset=splits.retain,
        eval_dataset={"forget_test": splits.forget_test, "test": splits.test}, processing_class=extractor,
    )  # fmt: skip
    before = trainer.evaluate()
    assert before["eval_forget_test_accuracy"] >= 0.8 and before["eval_test_accuracy"] >= 0.7  # the digits are learnt
    trainer.train()
    after = trainer.evaluate()
    assert after["eval_forget_test_accuracy"] <= 0.4  # unseen recordings of the forgotten digit: no longer recognised
    assert after["eval_test_accuracy"] >= 0.6  # the kept digits: still well above chance
