"""Synthesis of one keyword-dataset folder, run as its own interpreter: `python -m hf_unlearn.data.keyword_synthesis
<staging folder> <params JSON>` (called by `hf_unlearn.data.keywords`, not by users).

Why a separate interpreter: eSpeak NG's library keeps state from one utterance to the next that neither
`espeak_Initialize`, `espeak_Terminate` nor `espeak_ng_SetRandSeed` resets, so a clip depends on everything the process
synthesised before it (the same word with the same voice comes out a few samples longer or shorter, with other
samples). In a fresh interpreter that history is always the same (the voice check, then the clips in a fixed order),
and the synthesiser seeds eSpeak's random generator (`hf_unlearn.data.espeak.RANDOM_SEED`; eSpeak seeds it from the
clock), so the same parameters give byte-identical files whatever the calling process did before and whenever it runs:
a test suite, a demo after another demo, or a notebook.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path


def synthesise_into(staging: Path, params: dict) -> None:
    """Write every clip of `params` (see `make_keyword_dataset`) as `audio/<label>_<keyword>/<voice>_take<k>.wav`
    under `staging`, then `metadata.csv` and, last, `params.json` (its presence marks a complete folder)."""
    import soundfile
    import soxr
    from tqdm.auto import tqdm

    from hf_unlearn.data.espeak import get_synthesizer
    from hf_unlearn.data.keywords import _slug, _test_takes_for, _trim_and_normalise

    synthesizer = get_synthesizer()
    # Select every voice once before the first clip, as the parent's voice check does: part of the fixed history.
    for voice in params["voices"]:
        synthesizer.set_voice(voice)

    keywords, voices = params["keywords"], params["voices"]
    rates, pitches, sampling_rate = params["rates"], params["pitches"], params["sampling_rate"]
    # Take k is (rates[k // len(pitches)], pitches[k % len(pitches)]).
    takes = [(rate, pitch) for rate in rates for pitch in pitches]
    rows = []
    progress = tqdm(total=len(keywords) * len(voices) * len(takes), desc="Synthesising keywords", unit="clip")
    with progress:
        for label, keyword in enumerate(keywords):
            keyword_dir = f"{label:02d}_{_slug(keyword)}"
            (staging / "audio" / keyword_dir).mkdir(parents=True, exist_ok=True)
            for voice in voices:
                held_out = _test_takes_for(f"{keyword}|{voice}", len(takes), params["test_takes"], params["seed"])
                for take, (rate, pitch) in enumerate(takes):
                    audio, native_rate = synthesizer(keyword, voice=voice, rate=rate, pitch=pitch)
                    if native_rate != sampling_rate:
                        audio = soxr.resample(audio, native_rate, sampling_rate)
                    audio = _trim_and_normalise(audio, sampling_rate)
                    relative = f"audio/{keyword_dir}/{_slug(voice)}_take{take}.wav"
                    soundfile.write(staging / relative, audio, sampling_rate, subtype="PCM_16")
                    rows.append(
                        {
                            "file": relative,
                            "split": "test" if take in held_out else "train",
                            "label": label,
                            "keyword": keyword,
                            "speaker": voice,
                            "take": take,
                            "rate": rate,
                            "pitch": pitch,
                            "num_samples": len(audio),
                        }
                    )
                    progress.update()
    with open(staging / "metadata.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    info = {"params": params, "native_sampling_rate": synthesizer.sampling_rate, "num_clips": len(rows)}
    (staging / "params.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m hf_unlearn.data.keyword_synthesis <staging folder> <params JSON>", file=sys.stderr)
        return 2
    synthesise_into(Path(argv[0]), json.loads(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
