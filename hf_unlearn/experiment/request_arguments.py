"""Command-line arguments of an experiment (the recipe's; the benchmark reuses them): the reference models, the
data and forget request, and the model. The method's own options come from its config class."""

from __future__ import annotations

from dataclasses import dataclass, field

from .data import DATA_LAYOUTS, layout_choices
from .defaults import ReferenceTrainingArguments


@dataclass
class ScriptArguments(ReferenceTrainingArguments):
    """What the script does around the unlearning run: the YAML config and the reference (original, gold) models
    (their training options come from `ReferenceTrainingArguments`)."""

    config: str | None = field(
        default=None, metadata={"help": "YAML file of arguments (field: value); the command line overrides it."}
    )
    original_model_path: str | None = field(
        default=None,
        metadata={"help": "An already trained original model (folder or Hub id); trained from the model otherwise."},
    )
    gold_model_path: str | None = field(
        default=None,
        metadata={"help": "An already trained gold model (retrained without the forget set); trained otherwise."},
    )
    train_gold: bool = field(
        default=True,
        metadata={"help": "Train the gold model when --gold_model_path is not given (no gold: no GUM/CGUM)."},
    )
    reference_dir: str | None = field(
        default=None,
        metadata={
            "help": "Cache root of the reference models (original, gold, shadows), one folder per key (default: "
            "$HF_UNLEARN_CACHE/references or ~/.cache/hf_unlearn/references)."
        },
    )
    overwrite_reference_models: bool = field(
        default=False, metadata={"help": "Retrain the original and gold models even if cached ones match."}
    )
    relearn_steps: int = field(
        default=0,
        metadata={
            "help": "After unlearning, run the relearning check (experiment.relearning) for this many steps on the "
            "unlearned and the gold model; 0: off."
        },
    )
    fold_out_folds: int = field(
        default=0,
        metadata={
            "help": "With --stop_target reference and no --stop_target_accuracy: train this many fold-out reference "
            "models (speakers dealt into folds, each model without its fold; cached) and take the target from the "
            "one whose fold holds the request (docs/stopping.md). 0: the gold model's forget-validation figures."
        },
    )
    method_settings: str | None = field(
        default=None,
        metadata={
            "help": "Settings file whose per-method, per-request-kind values become the defaults of the method's "
            "options: a shipped name (hf_unlearn/experiment/settings/<name>.json) or a .json path written by "
            "`hf-unlearn tune` (default: fsdd with --model_type mfcc_cnn)."
        },
    )
    features_cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "Where extracted features are cached and reused by later runs on the same rows and extractor "
            "(default: features/ in the reference models' cache root)."
        },
    )
    num_threads: int | None = field(
        default=None, metadata={"help": "torch threads per process (torch.set_num_threads; default: torch's)."}
    )


@dataclass
class DataArguments:
    """Which data to load, and which samples to forget."""

    dataset_name: str | None = field(
        default=None, metadata={"help": "A Hub dataset name, or a local folder (see --data_layout)."}
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Configuration of the Hub dataset."})
    data_layout: str = field(
        default="auto",
        metadata={
            "help": f"One of {layout_choices()}. 'auto', tried in this order: "
            + "; ".join(f"{layout.description}: '{layout.name}'" for layout in DATA_LAYOUTS)
            + "."
        },
    )
    strict_layout: bool = field(
        default=False,
        metadata={
            "help": "Speech Commands folders: refuse files not named [{word}_]{speaker}_nohash_{n}.wav (default: "
            "skip them, with their count logged)."
        },
    )
    train_split_name: str = field(default="train", metadata={"help": "The training split."})
    test_split_name: str = field(
        default="test", metadata={"help": "The test split; without one, --test_size of train is held out."}
    )
    sampling_rate: int | None = field(
        default=None,
        metadata={
            "help": "Sampling rate of a feature extractor built from scratch (--model_type); default: the data's."
        },
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Keep at most this many training rows (seeded shuffle), for quick runs."}
    )
    max_test_samples: int | None = field(default=None, metadata={"help": "Keep at most this many test rows."})
    test_size: float = field(default=0.2, metadata={"help": "Held-out test share when the data has no test split."})
    validation_size: float = field(
        default=0.1,
        metadata={
            "help": "Share of the training rows held out as validation before the request is drawn (retain- and "
            "forget-validation; early stopping). The benchmark's value, so both draw the same rows."
        },
    )
    group_column: str | None = field(
        default=None,
        metadata={
            "help": "Column naming each row's recording (e.g. 'recording' of windows cut from long recordings): "
            "validation and test are then drawn as whole recordings, stratified by label (and by speaker where a "
            "speaker column exists), so no window of a recording is on two sides of a split."
        },
    )
    forget_speakers: list[str] | None = field(default=None, metadata={"help": "Speakers to forget."})
    forget_classes: list[str] | None = field(default=None, metadata={"help": "Classes to forget (names or ids)."})
    forget_fraction: float | None = field(
        default=None, metadata={"help": "Share of the training rows to forget (sample unlearning), e.g. 0.05."}
    )
    forget_speaker_share: float | None = field(
        default=None, metadata={"help": "UnSLU speaker protocol: forget speakers until this share (e.g. 0.025)."}
    )
    min_speaker_utterances: int = field(
        default=0, metadata={"help": "UnSLU speaker protocol: draw only speakers with more utterances (e.g. 100)."}
    )
    split_seed: int | None = field(
        default=None, metadata={"help": "Seed of the validation/forget/retain/test split (default: --seed)."}
    )


@dataclass
class ModelArguments:
    """The model to start from, and LoRA."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Pretrained model (folder or Hub id) the original and gold are trained from."}
    )
    model_type: str | None = field(
        default=None,
        metadata={
            "help": "Train from scratch: a model type, e.g. mfcc_cnn (hf-unlearn's MFCC CNN) or any registered "
            "audio-classification type (audio-spectrogram-transformer, wav2vec2, hubert, ...), sized by "
            "--config_overrides."
        },
    )
    config_overrides: str | None = field(
        default=None,
        metadata={
            "help": "With --model_type: config fields as key=value pairs separated by commas, e.g. "
            "num_hidden_layers=3,hidden_size=128,num_attention_heads=4,intermediate_size=256; fields the feature "
            "extractor also takes (AST: num_mel_bins, max_length) set it too."
        },
    )
    feature_extractor_name: str | None = field(
        default=None, metadata={"help": "Feature extractor name or path, if not the model's."}
    )
    normalize: str | None = field(
        default=None,
        metadata={
            "help": "MFCC normalisation of --model_type mfcc_cnn: dataset (fitted on the training rows, the "
            "default), per_clip or none."
        },
    )
    num_frames: int | None = field(
        default=None,
        metadata={"help": "MFCC frames per clip (default: cover the 99th percentile of the training clip lengths)."},
    )
    hop_length: int | None = field(default=None, metadata={"help": "Samples between MFCC frames."})
    cache_dir: str | None = field(default=None, metadata={"help": "Where downloaded models and datasets are stored."})
    model_revision: str = field(default="main", metadata={"help": "Model version (branch, tag or commit)."})
    token: str | None = field(default=None, metadata={"help": "Hub token for private models or datasets."})
    freeze_feature_encoder: bool = field(
        default=True, metadata={"help": "Freeze the convolutional feature encoder of wav2vec2-like models."}
    )
    ignore_mismatched_sizes: bool = field(
        default=False, metadata={"help": "Allow a checkpoint whose classifier has another number of classes."}
    )
    use_peft: bool = field(default=False, metadata={"help": "Unlearn LoRA adapters instead of the full model."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: list[str] | None = field(
        default=None,
        metadata={"help": "Modules that get adapters, e.g. q_proj v_proj (speech models need them named)."},
    )
    lora_modules_to_save: list[str] | None = field(
        default=None, metadata={"help": "Modules trained in full next to the adapters, e.g. classifier projector."}
    )
