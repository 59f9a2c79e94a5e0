"""The `hf-unlearn` console script: subcommands, per-command help, `--version`, old option spellings, and a package
import that stays light (nothing heavy is imported until a command runs or a name is used)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hf_unlearn
from hf_unlearn.cli.demo import DemoArguments
from hf_unlearn.cli.main import build_parser, main

HEAVY_MODULES = ("torch", "transformers", "datasets", "evaluate", "peft", "accelerate")
SCRIPT = Path(sys.executable).with_name("hf-unlearn")


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The installed console script (or `python -m hf_unlearn.cli.main` without one), run from `cwd`."""
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "hf_unlearn.cli.main"]
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300)


def parse(*argv: str):
    """`hf-unlearn argv` parsed, with the command's arguments dataclass built (nothing is run)."""
    from hf_unlearn.cli.dataclass_options import namespace_to_dataclass
    from hf_unlearn.cli.main import load_benchmark

    args = build_parser(argv[0]).parse_args(list(argv))
    dataclass_type = DemoArguments if argv[0] == "demo" else load_benchmark().BenchmarkArguments
    return namespace_to_dataclass(args, dataclass_type)


def option_blocks(help_text: str) -> dict[str, str]:
    """`{option: its help text}` from an argparse help page."""
    blocks, current = {}, None
    for line in help_text.splitlines():
        match = re.match(r"^  (-[-\w]+)", line)
        if match:
            current = match.group(1)
            blocks[current] = line
        elif current and line.startswith("   "):
            blocks[current] += " " + line.strip()
        else:
            current = None
    return blocks


def test_version(tmp_path):
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"hf-unlearn {hf_unlearn.__version__}"
    from hf_unlearn.version import __version__

    assert hf_unlearn.__version__ == __version__


def test_help_lists_the_commands(tmp_path):
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in ("unlearn", "tune", "demo", "methods", "benchmark"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.MULTILINE), command
    assert "example: hf-unlearn " in result.stdout
    assert run_cli("forget-everything", cwd=tmp_path).returncode == 2
    assert "invalid choice" in run_cli("forget-everything", cwd=tmp_path).stderr


@pytest.mark.parametrize("command", ["demo", "benchmark"])
def test_command_help_lists_the_shared_options(tmp_path, command):
    """From a folder outside the repository: the options come from the command's own argument definitions."""
    result = run_cli(command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: hf-unlearn {command}")
    blocks = option_blocks(result.stdout)
    for option in ("--forget_classes", "--forget_speakers", "--forget_fraction", "--output_dir", "--dataset_name"):
        assert option in blocks, option
    assert "--reference_epochs" in blocks
    # Old spellings parse but are not advertised; no help line states its default twice.
    for old in (
        "--fsdd",
        "--speakers",
        "--forget",
        "--original_epochs",
        "--reference_max_epochs",
        "--sample_fractions",
    ):
        assert old not in blocks, old
    for option, text in blocks.items():
        assert text.lower().count("default") <= 1, text


@pytest.mark.parametrize("command", ["unlearn", "tune", "demo", "methods", "benchmark"])
def test_every_command_help_says_what_it_is_for_with_an_example(command, capsys):
    """One summary line (the command list's) under the usage, and one example that runs the command."""
    from hf_unlearn.cli.main import COMMANDS, EXAMPLES

    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: hf-unlearn {command}")
    assert COMMANDS[command] in " ".join(text.split())
    assert f"example: {EXAMPLES[command]}" in text and EXAMPLES[command].startswith(f"hf-unlearn {command} ")


def test_unlearn_help_from_outside_the_source_tree(tmp_path):
    """`hf-unlearn unlearn --help` and `python -m hf_unlearn.cli unlearn --help` (the form `accelerate launch -m`
    runs) answer from a folder outside the repository, with the summary, the example and the experiment's options."""
    from hf_unlearn.cli.main import COMMANDS, EXAMPLES

    for result in (
        run_cli("unlearn", "--help", cwd=tmp_path),
        subprocess.run(
            [sys.executable, "-m", "hf_unlearn.cli", "unlearn", "--method", "scrub", "--help"],
            cwd=tmp_path, capture_output=True, text=True, timeout=300,
        ),
    ):  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("usage: hf-unlearn unlearn")
        flat = " ".join(result.stdout.split())
        assert COMMANDS["unlearn"] in flat and f"example: {EXAMPLES['unlearn']}" in flat
        for option in ("--forget_classes", "--dataset_name", "--method_settings", "--label_column", "--output_dir"):
            assert option in result.stdout, option
    assert "--temperature" in result.stdout  # the method's config fields, once --method names it


def test_no_flag_has_its_own_help(tmp_path):
    blocks = option_blocks(run_cli("benchmark", "--help", cwd=tmp_path).stdout)
    assert blocks["--no_tune"].split(None, 1)[1] != blocks["--tune"].split(None, 2)[2]
    assert "--tune false" in blocks["--no_tune"]


def test_methods_help_documents_markdown(tmp_path):
    result = run_cli("methods", "--help", cwd=tmp_path)
    assert result.returncode == 0 and "--markdown" in result.stdout and "docs/methods.md" in result.stdout


def test_methods_lists_the_registry(capsys):
    from hf_unlearn.methods import list_methods, methods_markdown

    assert main(["methods"]) == 0
    printed = capsys.readouterr().out
    keys = [info.key for info in list_methods()]
    assert "scrub" in keys and all(re.search(rf"^{key}\s", printed, re.MULTILINE) for key in keys)
    assert main(["methods", "--markdown"]) == 0
    assert capsys.readouterr().out == methods_markdown()


def test_import_and_help_import_nothing_heavy(tmp_path):
    code = (
        "import sys\n"
        "import hf_unlearn\n"
        "from hf_unlearn.cli.main import build_parser\n"
        "for command in ('demo', 'methods', 'benchmark', 'unlearn', 'tune', None):\n"
        "    build_parser(command).format_help()\n"
        f"print(sorted(set({HEAVY_MODULES!r}) & set(sys.modules)))\n"
    )
    result = run_python(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"imported at `import hf_unlearn` / help time: {result.stdout}"


def test_names_import_and_register_on_first_use(tmp_path):
    """The first use of a trainer name registers every method and the MFCC CNN with the Auto classes."""
    code = (
        "import sys\n"
        "import hf_unlearn\n"
        "assert 'torch' not in sys.modules\n"
        "assert hf_unlearn.SCRUBTrainer.__name__ == 'SCRUBTrainer'\n"
        "from hf_unlearn import UnlearningTrainer\n"
        "from transformers import AutoConfig\n"
        "print(type(AutoConfig.for_model('mfcc_cnn')).__name__)\n"
        "print(sorted(info.key for info in hf_unlearn.list_methods()))\n"
    )
    result = run_python(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config_name, keys = result.stdout.strip().splitlines()
    assert config_name == "MFCCCNNConfig"
    assert "'scrub'" in keys and "'neggrad_plus'" in keys


def test_public_names():
    import hf_unlearn.methods

    assert hf_unlearn._METHOD_NAMES == hf_unlearn.methods.__all__, "hf_unlearn's method names are stale"
    # Every method file is in the one list of built-in methods (a new file without its entry fails here).
    method_files = {p.stem for p in Path(hf_unlearn.methods.__file__).parent.glob("*.py") if p.stem != "__init__"}
    assert method_files == set(hf_unlearn.BUILT_IN_METHODS), "hf_unlearn.BUILT_IN_METHODS misses a method file"
    assert set(hf_unlearn.__all__) <= set(dir(hf_unlearn))
    for name in hf_unlearn.__all__:
        assert getattr(hf_unlearn, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        hf_unlearn.Nope  # noqa: B018


def test_demo_options_and_old_spellings(capsys):
    # The default is a request the gold model forgets (a keyword class), so that the drop shows.
    assert parse("demo").forget_request() == {"by": "class", "values": ["yes"]}
    assert parse("demo", "--dataset_name", "d").forget_request() == {"by": "class", "values": ["0"]}
    assert parse("demo", "--forget_speakers", "en-us+f1").forget_request() == {"by": "speaker", "values": ["en-us+f1"]}
    args = parse("demo", "--forget_classes", "yes", "--dataset_name", "data", "--output-dir", "out")
    assert (args.forget_request(), args.dataset_name, args.output_dir) == (
        {"by": "class", "values": ["yes"]},
        "data",
        "out",
    )
    assert parse("demo", "--forget_fraction", "0.1").forget_request() == {"by": "sample", "fraction": 0.1}

    old = parse("demo", "--forget", "speaker:a,b", "--fsdd", "data", "--original_epochs", "3")
    assert (old.forget_speakers, old.dataset_name, old.reference_epochs) == (["a", "b"], "data", 3.0)
    assert old.forget is None and old.forget_spec() == "speaker:a,b"
    assert parse("demo", "--forget", "class:yes").forget_classes == ["yes"]
    assert parse("demo", "--forget", "sample:0.05").forget_fraction == 0.05
    noted = capsys.readouterr().err
    assert "--fsdd is deprecated: use --dataset_name" in noted and "--original_epochs is deprecated" in noted

    with pytest.raises(ValueError, match="one forget request"):
        parse("demo", "--forget_speakers", "a", "--forget_classes", "yes")
    with pytest.raises(ValueError, match="--forget_speakers NAME"):
        parse("demo", "--forget", "voice:a")


def test_benchmark_options_and_old_spellings(capsys):
    args = parse(
        "benchmark", "--dataset_name", "d", "--forget_speakers", "ann", "--forget_fraction", "0.2", "--no_tune"
    )
    assert (args.dataset_name, args.forget_speakers, args.forget_fraction, args.tune) == ("d", ["ann"], [0.2], False)
    assert parse("benchmark", "--tune", "false").tune is False and parse("benchmark").tune is True
    old = parse(
        "benchmark",
        "--fsdd",
        "d",
        "--speakers",
        "ann",
        "bob",
        "--sample_fractions",
        "0.2",
        "--reference_max_epochs",
        "3",
    )
    assert (old.dataset_name, old.forget_speakers, old.forget_fraction, old.reference_epochs) == (
        "d",
        ["ann", "bob"],
        [0.2],
        3.0,
    )
    assert "--speakers is deprecated: use --forget_speakers" in capsys.readouterr().err


def test_reference_training_options_are_declared_once_for_every_front_end(tmp_path):
    """The recipe, the benchmark and the demo share `ReferenceTrainingArguments`: same options and help; only the
    demo's epoch cap (a few minutes) and the old spellings differ."""
    import dataclasses

    from hf_unlearn.experiment.defaults import ReferenceTrainingArguments
    from hf_unlearn.experiment.request_arguments import ScriptArguments

    benchmark_arguments = load_benchmark_arguments()
    shared = {spec.name: spec for spec in dataclasses.fields(ReferenceTrainingArguments)}
    for front_end in (ScriptArguments, benchmark_arguments, DemoArguments):
        assert issubclass(front_end, ReferenceTrainingArguments), front_end
        fields = {spec.name: spec for spec in dataclasses.fields(front_end)}
        for name, spec in shared.items():
            assert fields[name].metadata["help"].split(" Default:")[0] == spec.metadata["help"].split(" Default:")[0]
    unset = dict.fromkeys(("num_train_epochs", "learning_rate", "per_device_train_batch_size"), None)
    unset["early_stopping_patience"] = None
    assert ScriptArguments().reference_training() == benchmark_arguments().reference_training() == unset
    assert DemoArguments().reference_training() == {**unset, "num_train_epochs": 40}
    demo = parse("demo", "--reference_learning_rate", "0.01", "--early_stopping_patience", "0", "--shadow_models", "2")
    assert (demo.reference_learning_rate, demo.early_stopping_patience, demo.shadow_models) == (0.01, 0, 2)
    # In --help, the shared options come after the command's own, under their own heading.
    help_text = run_cli("demo", "--help", cwd=tmp_path).stdout
    assert help_text.index("--method") < help_text.index("Reference models (original, gold, shadows)")
    assert help_text.index("Reference models (original, gold, shadows)") < help_text.index("  --reference_epochs")


def load_benchmark_arguments():
    from hf_unlearn.cli.main import load_benchmark

    return load_benchmark().BenchmarkArguments


def test_wheel_holds_the_commands_and_package_data(tmp_path):
    """What `pip install .` would install, without installing torch again: a wheel built from a copy of the sources
    holds the command modules, the console script and the package data, and the unpacked wheel alone (no source
    tree on the path, cwd elsewhere) answers `hf-unlearn unlearn --help` and reads its shipped settings. (The
    dependencies are the test environment's; a fresh virtual environment is not built here.)"""
    import shutil
    import zipfile

    root = Path(__file__).resolve().parent.parent
    source = tmp_path / "source"
    shutil.copytree(root / "hf_unlearn", source / "hf_unlearn", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(root / name, source / name)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), "."],
        cwd=source, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = tmp_path.glob("hf_unlearn-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in (
        "hf_unlearn/cli/unlearn.py", "hf_unlearn/cli/tune.py", "hf_unlearn/cli/__main__.py", "hf_unlearn/cli/demo.py",
        "hf_unlearn/experiment/settings/fsdd.json", "hf_unlearn/experiment/settings/keywords.json",
        "hf_unlearn/hub/templates/model_card.md", "hf_unlearn/benchmark/tuning.py",
    ):  # fmt: skip
        assert path in names, path
    entry_points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
    assert "hf-unlearn = hf_unlearn.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import sys, hf_unlearn\n"
        f"assert hf_unlearn.__file__.startswith({str(unpacked)!r}), hf_unlearn.__file__\n"
        "from hf_unlearn.experiment import method_settings\n"
        "assert method_settings('neggrad_plus', 'keywords', 'class')['learning_rate'] > 0\n"
        "from hf_unlearn.cli.main import main\n"
        "sys.exit(main(['unlearn', '--help']))\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PYTHONPATH"] = str(unpacked)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("usage: hf-unlearn unlearn") and "--forget_classes" in result.stdout


def test_demo_reads_the_table_out_against_gold():
    from hf_unlearn.cli.demo import lesson

    def record(unlearned):
        rows = {"forget_accuracy": unlearned, "forget_test_accuracy": unlearned}
        return {
            "method": "m",
            "original": {"forget_accuracy": 1.0},
            "gold": {"forget_accuracy": 0.0},
            "unlearned": rows,
        }

    text = lesson(record(0.02), "class", "hf-unlearn demo --forget_speakers en-us+f1")
    assert "forget accuracy: original 1.000 -> m 0.020 (gold 0.000: like gold" in text
    assert "forget_test accuracy" not in text  # the original has no forget_test figure here: no line
    assert "hf-unlearn demo --forget_speakers en-us+f1" in text
    assert "still recognised" in lesson(record(0.5), "class")
    assert "compare with gold, not with zero" in lesson(record(0.5), "speaker")
