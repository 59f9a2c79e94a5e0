"""The data-layout table (`hf_unlearn.data.layouts.DATA_LAYOUTS`): every layout has a case here, its detector picks
its own folder (and no other layout's), and `load_audio_dataset` loads it through the table.

A new layout without a case in `LAYOUT_CASES` fails `test_every_layout_has_a_case`."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest

from hf_unlearn.data.layouts import AUTO, DATA_LAYOUTS, data_layout, detect_layout, layout_choices
from hf_unlearn.experiment.data import load_audio_dataset

SAMPLING_RATE = 8000


def _wav(path, frequency=440.0):
    import soundfile

    os.makedirs(os.path.dirname(path), exist_ok=True)
    t = np.arange(SAMPLING_RATE // 10) / SAMPLING_RATE
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), SAMPLING_RATE)


def _hub(tmp_path, monkeypatch):
    """A name that is not a folder; `datasets.load_dataset` stands in for the Hub (no network in tests)."""
    import datasets

    def fake_load_dataset(name, config=None, **kwargs):
        assert name == "someone/speech" and config is None
        return datasets.DatasetDict({"train": datasets.Dataset.from_dict({"audio": [[0.0]], "label": [0]})})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    return "someone/speech", 1


def _disk(tmp_path, monkeypatch):
    import datasets

    folder = str(tmp_path / "saved")
    data = datasets.Dataset.from_dict({"audio": [[0.0], [0.1]], "label": [0, 1]})
    datasets.DatasetDict({"train": data, "test": data}).save_to_disk(folder)
    return folder, 2


def _fsdd(tmp_path, monkeypatch):
    for digit in range(2):
        for take in range(6):  # takes 0-4 are FSDD's test takes
            _wav(str(tmp_path / "fsdd" / "recordings" / f"{digit}_ann_{take}.wav"), 300.0 * (digit + 1))
    return str(tmp_path / "fsdd"), 2


def _speech_commands(tmp_path, monkeypatch):
    for word in ("no", "yes"):
        for speaker in ("0a1b2c3d", "1b2c3d4e"):
            _wav(str(tmp_path / "commands" / word / f"{speaker}_nohash_0.wav"))
    with open(tmp_path / "commands" / "testing_list.txt", "w") as handle:
        handle.write("no/1b2c3d4e_nohash_0.wav\nyes/1b2c3d4e_nohash_0.wav\n")
    (tmp_path / "commands" / "validation_list.txt").write_text("")
    return str(tmp_path / "commands"), 2


def _audiofolder(tmp_path, monkeypatch):
    lines = ["file_name,label"]
    for word in ("low", "high"):
        _wav(str(tmp_path / "folder" / "train" / f"{word}.wav"), 300.0 if word == "low" else 900.0)
        lines.append(f"{word}.wav,{word}")
    (tmp_path / "folder" / "train" / "metadata.csv").write_text("\n".join(lines) + "\n")
    return str(tmp_path / "folder"), 2


# layout name -> a maker of (dataset name, number of training rows) with that layout.
LAYOUT_CASES = {
    "hub": _hub,
    "disk": _disk,
    "fsdd": _fsdd,
    "speech_commands": _speech_commands,
    "audiofolder": _audiofolder,
}


def _arguments(name: str, layout: str):
    data_args = SimpleNamespace(
        dataset_name=name, data_layout=layout, dataset_config_name=None, strict_layout=False,
        train_split_name="train", test_split_name="test", test_size=0.2,
    )  # fmt: skip
    return data_args, SimpleNamespace(cache_dir=None, token=None)


def test_every_layout_has_a_case():
    assert set(LAYOUT_CASES) == {layout.name for layout in DATA_LAYOUTS}
    assert layout_choices() == (AUTO, *(layout.name for layout in DATA_LAYOUTS))
    assert all(layout.description and callable(layout.detect) and callable(layout.load) for layout in DATA_LAYOUTS)


@pytest.mark.parametrize("layout", [layout.name for layout in DATA_LAYOUTS])
def test_layout_is_detected_and_loaded_through_the_table(layout, tmp_path, monkeypatch):
    name, num_train = LAYOUT_CASES[layout](tmp_path, monkeypatch)
    assert detect_layout(name) == layout
    for given in (AUTO, layout):
        loaded, loaded_layout = load_audio_dataset(*_arguments(name, given))
        assert loaded_layout == layout
        assert len(loaded["train"]) >= 1 and "label" in loaded["train"].column_names
    assert len(loaded["train"]) == num_train


def test_unknown_layout_and_local_layout_without_folder_are_refused(tmp_path):
    with pytest.raises(ValueError, match="data_layout 'zip' is not valid"):
        data_layout("zip")
    with pytest.raises(ValueError, match="not a local folder"):
        load_audio_dataset(*_arguments(str(tmp_path / "nowhere"), "fsdd"))
