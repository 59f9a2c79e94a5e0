"""Data: from audio rows to unlearning batches, and the built-in datasets.

- `splits`: [`make_forget_split`] and [`ForgetSplits`] (forget, retain, held-out retain, test, held-out forget),
  optionally drawn by recording (`groups`); `request_splits`: [`make_request_splits`] (validation drawn before the
  request: retain- and forget-validation); `windows`: [`window_clips`] cuts long recordings, keeping their id.
- `features`: [`featurize`], the one feature-extraction entry point (called where data is handed to a model).
- `streams`: the training streams ([`PairedUnlearningDataset`], [`MixedUnlearningDataset`]).
- `collator`: [`UnlearningCollator`] and the batch keys.
- built-in datasets: `fsdd` and `speech_commands` (loaders of local folders), `keywords` and `espeak` (synthetic
  keywords for the demo), `audio_utils` ([`load_audio_array`], which reads any value of a `datasets.Audio` column).

The package exports the names that need neither torch nor `datasets` at import time (the loaders import `datasets`
inside their functions), so `import hf_unlearn.data` stays cheap; the torch-based streams and collator are imported
from their modules (`from hf_unlearn.data.streams import PairedUnlearningDataset`).
"""

from hf_unlearn.data.audio_utils import load_audio_array
from hf_unlearn.data.espeak import list_voice_variants, synthesize
from hf_unlearn.data.features import featurize, featurize_cached, is_featurized
from hf_unlearn.data.fsdd import FSDD_LABELS, load_fsdd
from hf_unlearn.data.keywords import (
    DEFAULT_KEYWORDS,
    DEFAULT_PITCHES,
    DEFAULT_RATES,
    DEFAULT_VOICES,
    default_cache_dir,
    make_keyword_dataset,
)
from hf_unlearn.data.request_splits import make_request_splits
from hf_unlearn.data.speech_commands import load_speech_commands, speaker_split, split_by_speaker
from hf_unlearn.data.splits import ForgetSplits, make_forget_split, verify_split
from hf_unlearn.data.windows import window_clips

__all__ = [
    "DEFAULT_KEYWORDS",
    "DEFAULT_PITCHES",
    "DEFAULT_RATES",
    "DEFAULT_VOICES",
    "FSDD_LABELS",
    "ForgetSplits",
    "default_cache_dir",
    "featurize",
    "featurize_cached",
    "is_featurized",
    "list_voice_variants",
    "load_audio_array",
    "load_fsdd",
    "load_speech_commands",
    "make_forget_split",
    "make_keyword_dataset",
    "make_request_splits",
    "speaker_split",
    "split_by_speaker",
    "synthesize",
    "verify_split",
    "window_clips",
]
