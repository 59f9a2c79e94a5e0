"""Speech synthesis with eSpeak NG, used only to make the built-in demo data.

eSpeak NG is called through its C API with :mod:`ctypes`; the shared library and the voice data come from the
``espeakng-loader`` package (``pip install "hf-unlearn[demo]"``). eSpeak NG is licensed under the GPL-3, so it is an
*optional* extra of this Apache-2.0 library: nothing else in ``hf_unlearn`` imports this module, and the synthesiser is
used only to generate demo audio (see :func:`hf_unlearn.data.make_keyword_dataset`), never linked into models.

eSpeak NG keeps its state (and the synthesis callback) in globals, so there is one synthesiser per process: a lazily
created module-level singleton, guarded by a lock so that threads take turns. Its output depends on what the process
synthesised before (state that no eSpeak call resets; the same call twice gives different samples) and, for some voice
variants, on eSpeak's random generator, which eSpeak seeds from the clock and this module seeds with `RANDOM_SEED`;
datasets are synthesised by a fresh interpreter (`hf_unlearn.data.keyword_synthesis`) and cached on disk.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import threading

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_SAMPLING_RATE", "ESpeakSynthesizer", "get_synthesizer", "list_voice_variants", "synthesize"]

RANDOM_SEED = 0
"""Seed of eSpeak NG's random generator, set when the synthesiser is created (eSpeak seeds it from the clock)."""

DEFAULT_SAMPLING_RATE = 22050
"""eSpeak NG's native output rate; the rate actually used is the one returned by ``espeak_Initialize``."""

# Constants from espeak-ng/speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2  # synthesise into the callback; espeak_Synth returns when done
_POS_CHARACTER = 1
_espeakCHARS_UTF8 = 1
_espeakENDPAUSE = 0x1000
_espeakRATE = 1
_espeakVOLUME = 2
_espeakPITCH = 3
_EE_OK = 0
_EE_NOT_FOUND = 2

# int SynthCallback(short *wav, int numsamples, espeak_EVENT *events); return 0 to go on, 1 to abort.
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

_INSTALL_HINT = (
    'Speech synthesis needs eSpeak NG from the optional `espeakng-loader` package: pip install "hf-unlearn[demo]" '
    "(eSpeak NG is GPL-3 and used only to make demo data)."
)


def _import_loader():
    try:
        import espeakng_loader
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error
    return espeakng_loader


@functools.lru_cache(maxsize=None)
def _voice_variants() -> tuple[str, ...]:
    data_path = _import_loader().get_data_path()
    return tuple(sorted(os.listdir(os.path.join(data_path, "voices", "!v"))))


def list_voice_variants() -> list[str]:
    """Names of the voice variants shipped with eSpeak NG's data (``m1``..``m8``, ``f1``..``f5``, ``klatt``, ...).

    A voice is named ``"<language>+<variant>"``, e.g. ``"en-us+m1"`` or ``"en-gb-scotland+f2"``.
    """
    return list(_voice_variants())


class ESpeakSynthesizer:
    """Thin ctypes wrapper over eSpeak NG's synchronous synthesis API.

    Do not create more than one: use :func:`get_synthesizer` (or :func:`synthesize`), which returns the process-wide
    instance. All calls on it hold :attr:`lock`.
    """

    def __init__(self, library_path: str | None = None, data_path: str | None = None):
        if library_path is None or data_path is None:
            loader = _import_loader()
            library_path = library_path or loader.get_library_path()
            data_path = data_path or loader.get_data_path()
        self.library_path = library_path
        self.data_path = data_path
        self.lock = threading.RLock()
        self._chunks: list[np.ndarray] = []
        self._voice: str | None = None

        lib = ctypes.CDLL(library_path)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,  # text
            ctypes.c_size_t,  # size in bytes, including the terminating zero
            ctypes.c_uint,  # position
            ctypes.c_int,  # position_type
            ctypes.c_uint,  # end_position
            ctypes.c_uint,  # flags
            ctypes.POINTER(ctypes.c_uint),  # unique_identifier
            ctypes.c_void_p,  # user_data
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        self._lib = lib

        # buflength 0 = eSpeak's default buffer (60 ms); options 0 = no phoneme events.
        sampling_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), 0)
        if sampling_rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed ({sampling_rate}) with data path {data_path!r}.")
        self.sampling_rate = int(sampling_rate)
        # espeak_Initialize seeds eSpeak's random generator from the clock; some voice variants draw from it (the
        # breathy en+f2 and en-gb-scotland+f3 of the demo differ from one second to the next without this).
        if hasattr(lib, "espeak_ng_SetRandSeed"):
            lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
            lib.espeak_ng_SetRandSeed.restype = None
            lib.espeak_ng_SetRandSeed(RANDOM_SEED)
        else:
            logger.warning("This eSpeak NG build has no espeak_ng_SetRandSeed: some voices vary from run to run.")
        # Keep a reference to the ctypes callback: if it were garbage-collected, eSpeak would call freed memory.
        self._callback = _SYNTH_CALLBACK(self._on_samples)
        lib.espeak_SetSynthCallback(self._callback)

    def _on_samples(self, wav, num_samples, events):
        if wav and num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        return 0

    def set_voice(self, voice: str) -> None:
        """Select a voice by name, e.g. ``"en-us+m1"`` (language, then ``+`` and a variant from ``voices/!v``)."""
        with self.lock:
            if voice == self._voice:
                return
            hint = (
                "Use '<language>+<variant>' with a language such as 'en-us', 'en', 'en-gb-scotland', 'en-029' and "
                "a variant listed by hf_unlearn.data.espeak.list_voice_variants() (m1..m8, f1..f5, ...)."
            )
            language, _, variant = voice.partition("+")
            # eSpeak silently ignores an unknown variant and speaks with the language's default voice instead.
            if variant and variant not in _voice_variants():
                raise ValueError(f"eSpeak NG voice {voice!r}: unknown variant {variant!r}. {hint}")
            status = self._lib.espeak_SetVoiceByName(voice.encode())
            if status != _EE_OK:
                reason = "language not found" if status == _EE_NOT_FOUND else f"error {status}"
                raise ValueError(f"eSpeak NG voice {voice!r}: {reason}. {hint}")
            self._voice = voice

    def __call__(self, text: str, voice: str = "en-us+m1", rate: int = 175, pitch: int = 50):
        """Synthesise ``text``; see :func:`synthesize`."""
        if not text or not text.strip():
            raise ValueError("Cannot synthesise empty text.")
        with self.lock:
            self.set_voice(voice)
            # Parameters must be set after the voice: espeak_SetVoiceByName resets them.
            self._lib.espeak_SetParameter(_espeakRATE, int(rate), 0)
            self._lib.espeak_SetParameter(_espeakPITCH, int(pitch), 0)
            data = text.encode("utf-8") + b"\0"
            self._chunks = []
            status = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _espeakCHARS_UTF8, None, None)
            chunks, self._chunks = self._chunks, []
            # Changing rate or pitch does not alter the voice, but make the next call set the voice again anyway:
            # a failed synthesis may leave eSpeak in an unknown state.
            if status != _EE_OK:
                self._voice = None
                raise RuntimeError(f"espeak_Synth failed with status {status} for {text!r} ({voice}).")
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return samples.astype(np.float32) / 32768.0, self.sampling_rate


_synthesizer: ESpeakSynthesizer | None = None
_synthesizer_lock = threading.Lock()


def get_synthesizer() -> ESpeakSynthesizer:
    """The process-wide :class:`ESpeakSynthesizer`, created on first use.

    Raises:
        ImportError: if ``espeakng-loader`` is not installed (``pip install "hf-unlearn[demo]"``).
    """
    global _synthesizer
    if _synthesizer is None:
        with _synthesizer_lock:
            if _synthesizer is None:
                _synthesizer = ESpeakSynthesizer()
    return _synthesizer


def synthesize(text: str, voice: str = "en-us+m1", rate: int = 175, pitch: int = 50) -> tuple[np.ndarray, int]:
    """Synthesise speech with eSpeak NG.

    The samples depend on what this process synthesised before (eSpeak NG keeps state between utterances), so two
    identical calls differ slightly; for reproducible data synthesise in a fresh process, as
    :func:`hf_unlearn.data.make_keyword_dataset` does.

    Args:
        text (`str`):
            The text to speak (UTF-8).
        voice (`str`, *optional*, defaults to `"en-us+m1"`):
            ``"<language>+<variant>"``: a language such as ``en-us``, ``en`` (British), ``en-gb-scotland``,
            ``en-029`` (Caribbean) and a variant from :func:`list_voice_variants` (``m1``..``m8``, ``f1``..``f5``,
            ...). A bare language name uses its default voice.
        rate (`int`, *optional*, defaults to 175):
            Speaking rate in words per minute (eSpeak accepts 80-450).
        pitch (`int`, *optional*, defaults to 50):
            Base pitch, 0-100.

    Returns:
        `tuple[np.ndarray, int]`: the waveform (mono, ``float32`` in [-1, 1]) and its sampling rate (the rate reported
        by ``espeak_Initialize``, 22050 Hz for eSpeak NG's voices).

    Raises:
        ImportError: if ``espeakng-loader`` is not installed (``pip install "hf-unlearn[demo]"``).
        ValueError: for an unknown voice or empty text.
    """
    return get_synthesizer()(text, voice=voice, rate=rate, pitch=pitch)
