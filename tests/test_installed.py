"""`pip install hf-unlearn` outside the source tree: the package as a user gets it.

A wheel is built from a copy of the sources and installed with pip into a fresh virtual environment. Its
dependencies (torch, transformers, ...) come from this test environment through a path file, not reinstalled (that
would download gigabytes): the path file adds this environment's site-packages as a plain path, which is not a site
directory, so this checkout's editable install does not reach the new environment. Every command runs with the new
environment's interpreter, from a folder outside the source tree, without PYTHONPATH, and first checks that
`hf_unlearn` is imported from the new environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from test_recipes import COMMON, save_tiny_checkpoint, write_audiofolder

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`(python, elsewhere, env)`: the fresh environment's interpreter, a folder outside the source tree and the
    environment to run it with."""
    work = tmp_path_factory.mktemp("installed")
    source = work / "source"
    shutil.copytree(ROOT / "hf_unlearn", source / "hf_unlearn", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    wheels = work / "wheels"
    run = dict(capture_output=True, text=True, timeout=600)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), "."],
        cwd=source, **run,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    venv = work / "venv"
    created = subprocess.run([sys.executable, "-m", "venv", str(venv)], **run)
    assert created.returncode == 0, created.stderr[-3000:]
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], **run)
    (Path(purelib.stdout.strip()) / "test_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (wheel,) = wheels.glob("hf_unlearn-*.whl")
    pip = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], **run)
    assert pip.returncode == 0, pip.stderr[-3000:]
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    where = subprocess.run(
        [str(python), "-c", "import hf_unlearn; print(hf_unlearn.__file__)"], cwd=elsewhere, env=env, **run
    )
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr  # the installed copy, not the checkout
    return python, elsewhere, env


def _run(installed, *args, timeout=900):
    python, elsewhere, env = installed
    return subprocess.run(
        [str(python), *args], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_installed_unlearn_command_answers_help(installed):
    script = Path(installed[0]).parent / "hf-unlearn"
    python, elsewhere, env = installed
    done = subprocess.run([str(script), "unlearn", "--help"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "--forget_speakers" in done.stdout and "--method" in done.stdout


def test_installed_unlearn_command_runs_on_a_tiny_folder(installed, tmp_path):
    data = write_audiofolder(tmp_path / "af")
    checkpoint = save_tiny_checkpoint(tmp_path / "ckpt")
    out = tmp_path / "out"
    args = ["--method", "finetune", "--dataset_name", data, "--model_name_or_path", checkpoint]
    args += ["--train_gold", "false", "--forget_classes", "high", "--output_dir", str(out), *COMMON]
    done = _run(installed, "-m", "hf_unlearn.cli", "unlearn", *args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["data_layout"] == "audiofolder" and set(results["rows"]) == {"original", "finetune"}
    assert (out / "model.safetensors").exists() and (out / "README.md").exists()


def test_installed_unlearn_command_under_accelerate_launch_with_two_cpu_processes(installed, tmp_path):
    data = write_audiofolder(tmp_path / "af")
    checkpoint = save_tiny_checkpoint(tmp_path / "ckpt")
    out = tmp_path / "out"
    launch = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
    launch += ["--mixed_precision", "no", "--dynamo_backend", "no", "-m", "hf_unlearn.cli", "unlearn"]
    args = ["--method", "neggrad_plus", "--dataset_name", data, "--model_name_or_path", checkpoint]
    args += ["--forget_classes", "high", "--output_dir", str(out), "--use_cpu", "true", *COMMON]
    done = _run(installed, *launch, *args, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["num_processes"] == 2  # two ranks, not one process training alone
