"""Reference models built from a small configuration: `--model_type <type> --config_overrides "k=v,..."` (the
transformers examples' convention), with the from-scratch reference defaults."""

from __future__ import annotations

import numpy as np
import pytest

AST_OVERRIDES = (
    "num_hidden_layers=2,hidden_size=32,num_attention_heads=2,intermediate_size=64,num_mel_bins=32,max_length=48,"
    "patch_size=16,frequency_stride=16,time_stride=16"
)


def test_parse_config_overrides():
    from hf_unlearn.experiment import parse_config_overrides

    text = "num_hidden_layers=2, hidden_dropout_prob=0.1,hidden_act=gelu,qkv_bias=false,x=none"
    parsed = parse_config_overrides(text)
    assert parsed == {
        "num_hidden_layers": 2,
        "hidden_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "qkv_bias": False,
        "x": None,
    }
    assert parse_config_overrides(None) == {} and parse_config_overrides("") == {}
    with pytest.raises(ValueError, match="key=value"):
        parse_config_overrides("num_hidden_layers")


def test_reference_defaults_per_family():
    from hf_unlearn.experiment import model_family, reference_defaults

    assert model_family(None) == "transformer"  # a pretrained checkpoint: fine-tuning values
    assert model_family("mfcc_cnn") == "mfcc_cnn"
    assert model_family("audio-spectrogram-transformer") == "transformer_from_scratch"
    scratch, finetune = reference_defaults("wav2vec2"), reference_defaults(None)
    assert scratch["learning_rate"] > 10 * finetune["learning_rate"]
    assert reference_defaults("wav2vec2", learning_rate=None, num_train_epochs=3)["num_train_epochs"] == 3


def test_ast_from_overrides_builds_matching_model_and_extractor():
    """The overrides size the model, and those the feature extractor also takes (mel bins, frames) reach it, so the
    extractor's output fits the model; they are part of the cache key."""
    from hf_unlearn.experiment import ReferenceSpec, parse_config_overrides

    labels = [str(i) for i in range(3)]
    overrides = parse_config_overrides(AST_OVERRIDES)
    spec = ReferenceSpec(labels, "audio-spectrogram-transformer", config_overrides=overrides)
    extractor = spec.new_extractor(8000)
    assert (extractor.num_mel_bins, extractor.max_length, extractor.sampling_rate) == (32, 48, 8000)
    model = spec.build_model(extractor)
    assert (model.config.num_hidden_layers, model.config.hidden_size, model.config.num_labels) == (2, 32, 3)
    features = extractor([np.zeros(8000, dtype=np.float32)], sampling_rate=8000, return_tensors="pt")
    assert model(**features).logits.shape == (1, 3)
    assert spec.training["learning_rate"] == 1e-3  # trained from scratch, not fine-tuned

    plain = ReferenceSpec(labels, "audio-spectrogram-transformer")
    assert "config_overrides" not in plain.key_payload()
    same = ReferenceSpec(labels, "audio-spectrogram-transformer", training={"num_train_epochs": 40.0})
    assert same.key_payload() == plain.key_payload()  # the default's 40 epochs, given as 40.0
    longer = ReferenceSpec(labels, "audio-spectrogram-transformer", training={"num_train_epochs": 40.5})
    assert longer.key_payload() != plain.key_payload()
    assert spec.key_payload()["config_overrides"]["hidden_size"] == 32
    with pytest.raises(ValueError, match="from scratch"):
        ReferenceSpec(labels, model_name_or_path="some/checkpoint", config_overrides={"hidden_size": 32})


def test_recipe_and_benchmark_take_the_options():
    from hf_unlearn.benchmark.benchmark_arguments import BenchmarkArguments
    from hf_unlearn.experiment.request_arguments import ModelArguments

    for arguments in (ModelArguments, BenchmarkArguments):
        fields = arguments.__dataclass_fields__
        assert "model_type" in fields and "config_overrides" in fields
