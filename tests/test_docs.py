"""The worked examples of `docs/`: the Python block of `docs/speaker_id.md` runs as written (paths pointed at a
generated folder of long recordings) and does what the page says."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parent.parent


def write_long_recordings(folder: Path, speakers: int = 4, recordings: int = 3, seconds: float = 4.0, rate=16000):
    """`spk{i}_{r}.wav`, a few seconds each, plus the `metadata.csv` of the audiofolder layout (file_name, speaker).
    Each speaker is a pitch with a speaker-specific harmonic; each recording has its own noise and level."""
    import soundfile

    folder.mkdir(parents=True)
    lines = ["file_name,speaker"]
    t = np.arange(int(seconds * rate)) / rate
    for s in range(speakers):
        pitch = 150.0 * (1 + 0.35 * s)
        for r in range(recordings):
            rng = np.random.default_rng(100 * s + r)
            wave = np.sin(2 * np.pi * pitch * t) + 0.4 * np.sin(2 * np.pi * (2 + s) * pitch * t)
            wave *= 0.3 * (1 + 0.5 * np.sin(2 * np.pi * (1 + r) * t))  # syllable-like loudness changes
            audio = (wave + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
            soundfile.write(folder / f"spk{s}_{r}.wav", audio, rate, subtype="PCM_16")
            lines.append(f"spk{s}_{r}.wav,spk{s}")
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n")


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


@pytest.mark.slow
def test_speaker_id_page_example_runs(tmp_path, capsys):
    (code,) = python_blocks(ROOT / "docs" / "speaker_id.md")
    write_long_recordings(tmp_path / "recordings")
    for placeholder, real in (
        ("path/to/recordings", tmp_path / "recordings"),
        ("path/to/cache", tmp_path / "cache"),
        ("runs/forget-spk3", tmp_path / "out"),
    ):
        assert placeholder in code, placeholder
        code = code.replace(placeholder, str(real))
    code = code.replace('"spk3"', '"spk2"')  # this folder has 4 speakers
    namespace = {}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, "docs/speaker_id.md", "exec"), namespace)
    finally:
        os.chdir(cwd)
    splits, record = namespace["splits"], namespace["record"]
    assert splits.request_kind == "speaker_id" and splits.kind == "class"
    assert splits.forget_test is not None and len(splits.forget_test)
    # Whole recordings on each side of the test holdout: no recording both trained on and tested on.
    trained = set(splits.forget["recording"]) | set(splits.retain["recording"])
    held_out = set(splits.test["recording"]) | set(splits.forget_test["recording"])
    assert not trained & held_out
    printed = capsys.readouterr().out
    assert "| Forget-test Acc |" in printed
    assert record["gold"]["forget_accuracy"] == 0.0  # gold cannot name a speaker it never heard
    results = (tmp_path / "out" / "results.json").read_text()
    assert "spk2" not in (tmp_path / "out" / "README.md").read_text() and '"kind": "speaker_id"' in results
