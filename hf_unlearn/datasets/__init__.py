"""Built-in demo data: a synthetic keyword dataset (eSpeak NG), loaders for local copies of the Free Spoken Digit
Dataset and of Speech Commands-style folders, and :func:`load_audio_array`, which reads any value of a
`datasets.Audio` column.

This subpackage is named ``hf_unlearn.datasets``; the Hugging Face library is still ``import datasets`` (imports are
absolute). It is imported lazily inside the functions, so ``import hf_unlearn.datasets`` stays cheap.
"""

from hf_unlearn.datasets.audio_utils import load_audio_array
from hf_unlearn.datasets.espeak import list_voice_variants, synthesize
from hf_unlearn.datasets.fsdd import FSDD_LABELS, load_fsdd
from hf_unlearn.datasets.keywords import (
    DEFAULT_KEYWORDS,
    DEFAULT_PITCHES,
    DEFAULT_RATES,
    DEFAULT_VOICES,
    default_cache_dir,
    make_keyword_dataset,
)
from hf_unlearn.datasets.speech_commands import load_speech_commands

__all__ = [
    "DEFAULT_KEYWORDS",
    "DEFAULT_PITCHES",
    "DEFAULT_RATES",
    "DEFAULT_VOICES",
    "FSDD_LABELS",
    "default_cache_dir",
    "list_voice_variants",
    "load_audio_array",
    "load_fsdd",
    "load_speech_commands",
    "make_keyword_dataset",
    "synthesize",
]
