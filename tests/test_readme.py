"""The project's documents stay true to the code: the README is short and every name, command and option it shows
exists; docs/ holds the current methods table, a package map naming every module, a row for every logged metric key
and the benchmark block as generated; and nothing in the repository points at files or trackers that its users do not
have."""

import ast
import importlib
import importlib.util
import inspect
import json
import os
import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PACKAGE = ROOT / "hf_unlearn"
# The documents whose names and paths must exist. CHANGELOG.md is left out: it names the old module paths on purpose.
USER_DOCUMENTS = [README, ROOT / "CONTRIBUTING.md", ROOT / "recipes" / "README.md", *sorted(DOCS.glob("*.md"))]


def _section(text: str, heading: str) -> str:
    return text.split(f"{heading}\n", 1)[1].split("\n## ", 1)[0]


def _code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL)


def test_readme_is_for_users_and_short():
    readme = README.read_text()
    assert len(readme.splitlines()) <= 300, "the README is over 300 lines: move the details to docs/"
    contents = _section(readme, "## Contents")
    headings = re.findall(r"^## (.+)$", readme, re.MULTILINE)
    listed = re.findall(r"^- \[(.+?)\]\(#", contents, re.MULTILINE)
    assert listed == [h for h in headings if h != "Contents"], "the README's table of contents is stale"


def test_links_into_docs_exist():
    for document in USER_DOCUMENTS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", document.read_text()):
            if target.startswith("http"):
                continue
            assert (document.parent / target).exists(), f"{document.relative_to(ROOT)} links to missing {target}"


def test_methods_table_is_current():
    from hf_unlearn.methods import methods_markdown

    assert methods_markdown() in (DOCS / "methods.md").read_text(), (
        "docs/methods.md's methods table is stale: paste `hf-unlearn methods --markdown`"
    )


def test_readme_and_docs_name_every_method():
    from hf_unlearn import list_methods

    methods_section = _section(README.read_text(), "## Methods")
    deviations = (DOCS / "methods.md").read_text()
    for info in list_methods():
        assert f"`{info.key}`" in methods_section, f"the README's Methods section does not name {info.key}"
        assert f"### `{info.key}`" in deviations, f"docs/methods.md has no deviations section for {info.key}"


# ---------------------------------------------------------------------------------------------------------- names


def _resolve_dotted(name: str):
    """The object a dotted name `hf_unlearn.a.b.c` refers to: the longest importable module, then attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            value = getattr(value, attribute)
        return value
    raise ModuleNotFoundError(name)


def _call_keywords_fit(function, keywords: list[str]) -> list[str]:
    """The keywords that `function` (a class: its `__init__`) does not accept."""
    # A class: its `__init__` (a `__new__` that dispatches, like UnlearningTrainer's, takes anything).
    signature = inspect.signature(function.__init__ if inspect.isclass(function) else function)
    parameters = {name: p for name, p in signature.parameters.items() if name != "self"}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        accepted = None
        if inspect.isclass(function):  # a `**kwargs` that goes to transformers.Trainer: check against that too
            from transformers import Trainer

            accepted = set(parameters) | set(inspect.signature(Trainer.__init__).parameters)
        return [] if accepted is None else [k for k in keywords if k not in accepted]
    return [k for k in keywords if k not in parameters]


def test_readme_python_example_uses_names_that_exist():
    """Every name the README's Python blocks import from hf_unlearn exists, every call of one passes keywords it
    accepts, and every `trainer.<method>` / `splits.<attribute>` the blocks use exists."""
    from hf_unlearn import ForgetSplits, UnlearningTrainer

    blocks = _code_blocks(README.read_text(), "python")
    assert blocks, "the README shows no Python"
    owners = {"trainer": UnlearningTrainer, "splits": ForgetSplits}
    for block in blocks:
        tree = ast.parse(block)
        imported = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module.startswith("hf_unlearn"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    imported[alias.asname or alias.name] = getattr(module, alias.name)
        assert imported, "the README's Python block imports nothing from hf_unlearn"
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in imported:
                keywords = [k.arg for k in node.keywords if k.arg]
                wrong = _call_keywords_fit(imported[node.func.id], keywords)
                assert not wrong, f"the README calls {node.func.id} with unknown keywords {wrong}"
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in owners:
                owner = owners[node.value.id]
                attribute = node.attr
                known = hasattr(owner, attribute) or attribute in getattr(owner, "__dataclass_fields__", {})
                assert known, f"the README uses {node.value.id}.{attribute}, which {owner.__name__} does not have"


def test_readme_python_example_runs(toy_dataset, tmp_path, monkeypatch):
    """The README's Python example, as printed, on the toy tones (speaker `ann` for `jackson`) and the tiny CNN;
    only `push_to_hub`, which needs a Hub repository, is left out (tests/test_hub.py covers it)."""
    from conftest import build_tiny_model

    block = _code_blocks(README.read_text(), "python")[0]
    assert 'values=["jackson"]' in block and "trainer.push_to_hub()" in block
    code = block.replace('values=["jackson"]', 'values=["ann"]').replace("trainer.push_to_hub()", "pass")
    model, feature_extractor = build_tiny_model("cnn")
    monkeypatch.chdir(tmp_path)
    namespace = {"dataset": toy_dataset, "model": model, "feature_extractor": feature_extractor}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["trainer"].last_eval_results["forget_accuracy"] is not None
    assert (tmp_path / "out" / "unlearning_config.json").is_file() and (tmp_path / "out" / "README.md").is_file()


def _backticked(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def test_documents_name_only_modules_and_objects_that_exist():
    """Dotted names `hf_unlearn.x.y` (calls included), CamelCase class names and repository paths in backticks must
    resolve, in the README, docs/, CONTRIBUTING.md and recipes/README.md."""
    import builtins

    import datasets
    import peft
    import transformers

    import hf_unlearn
    import hf_unlearn.data
    import hf_unlearn.models
    import hf_unlearn.papers

    namespaces = (hf_unlearn, hf_unlearn.models, hf_unlearn.data, hf_unlearn.papers, transformers, datasets, peft)
    namespaces += (builtins,)
    missing = []
    for document in USER_DOCUMENTS:
        where = document.relative_to(ROOT)
        for snippet in _backticked(document.read_text()):
            for dotted in re.findall(r"\bhf_unlearn(?:\.\w+)+", snippet):
                if not re.search(rf"{re.escape(dotted)}\.(py|json|md)\b", snippet):
                    try:
                        _resolve_dotted(dotted)
                    except (ImportError, AttributeError):
                        missing.append(f"{where}: {dotted}")
            name = re.fullmatch(r"([A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*)(\(.*\))?", snippet)
            placeholder = name and re.match(r"X[A-Z]", name.group(1))  # `XConfig`, `XTrainer`: any method's
            if name and not placeholder and not any(hasattr(ns, name.group(1)) for ns in namespaces):
                missing.append(f"{where}: {name.group(1)}")
            path = re.fullmatch(r"((?:hf_unlearn|tests|recipes|perf|docs)/[\w./*-]+)", snippet)
            if path and "<" not in snippet and not any(ROOT.glob(path.group(1))):
                missing.append(f"{where}: {path.group(1)}")
    assert not missing, "documents name what does not exist:\n" + "\n".join(missing)


def _shell_commands(text: str) -> list[list[str]]:
    """The commands of the ```bash blocks, continuation lines joined and comments dropped."""
    commands = []
    for block in _code_blocks(text, "bash"):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands.append(shlex.split(line))
    return commands


def test_readme_commands_parse(monkeypatch, tmp_path):
    """Every `hf-unlearn` and recipe command of the README parses: its subcommand and options exist."""
    from hf_unlearn.cli.main import build_parser

    spec = importlib.util.spec_from_file_location(
        "readme_recipe", ROOT / "recipes" / "unlearn_audio_classification.py"
    )
    recipe = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "readme_recipe", recipe)  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(recipe)
    checked = 0
    for command in _shell_commands(README.read_text()):
        if "-m" in command and command[command.index("-m") + 1] == "hf_unlearn.cli":  # accelerate launch -m ...
            command = ["hf-unlearn", *command[command.index("-m") + 2 :]]
        if command[:2] in (["hf-unlearn", "unlearn"], ["hf-unlearn", "tune"]):  # HfArgumentParser commands
            from hf_unlearn.cli.tune import TuneArguments
            from hf_unlearn.cli.unlearn import parse_arguments

            monkeypatch.chdir(ROOT)  # the YAML paths are relative to the repository
            extra = (TuneArguments,) if command[1] == "tune" else ()
            arguments = [a for a in command[2:] if a != "--help"]
            if "--method_settings" in arguments:  # a file `hf-unlearn tune` writes: a copy of a shipped one here
                index = arguments.index("--method_settings") + 1
                if arguments[index].endswith(".json"):
                    settings = tmp_path / arguments[index]
                    shipped = ROOT / "hf_unlearn" / "experiment" / "settings" / "fsdd.json"
                    settings.write_text(shipped.read_text())
                    arguments[index] = str(settings)
            parse_arguments(arguments, extra_classes=extra)
            checked += 1
        elif command[0] == "hf-unlearn":
            _, unknown = build_parser(command[1]).parse_known_args(command[1:])
            assert not unknown, f"`{shlex.join(command)}`: hf-unlearn {command[1]} does not know {unknown}"
            checked += 1
        elif command[:2] == ["python", "recipes/unlearn_audio_classification.py"] and "--help" not in command:
            monkeypatch.chdir(ROOT)  # the YAML paths are relative to the repository
            recipe.parse_arguments(command[2:])
            checked += 1
    assert checked >= 4


# ---------------------------------------------------------------------------------------------------- architecture


def _architecture_entries() -> set[str]:
    """The paths the package map of docs/architecture.md names (relative to the repository), from its indentation."""
    block = _code_blocks(_section((DOCS / "architecture.md").read_text(), "## Package map"), "")[0]
    entries, folders = set(), []
    for line in block.splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip())) // 2
        folders = folders[:depth]
        names = []
        for word in line.split():
            if not re.fullmatch(r"[\w*.-]+(/[\w*.-]+)*/?", word) or not re.search(r"(/|\.py|\.json|\.md)$", word):
                break
            names.append(word)
        for name in names:
            entries.add("/".join([*folders, name]).rstrip("/"))
        if len(names) == 1 and names[0].endswith("/"):
            folders.append(names[0].rstrip("/"))
    return entries


def test_architecture_names_every_module():
    entries = _architecture_entries()
    modules = {str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    # A subpackage's __init__.py is covered by its folder's line.
    missing = sorted(
        m for m in modules if m not in entries and not (m.endswith("/__init__.py") and m.rpartition("/")[0] in entries)
    )
    assert not missing, f"docs/architecture.md's package map does not name {missing}"
    gone = sorted(entry for entry in entries if not any(ROOT.glob(entry)))
    assert not gone, f"docs/architecture.md's package map names what does not exist: {gone}"


def test_architecture_layers_are_the_checked_ones():
    from test_imports import LAYERS

    text = _section((DOCS / "architecture.md").read_text(), "## Layers")
    documented = [re.findall(r"`(\w+)`", line.split(":", 1)[0]) for line in re.findall(r"^\d+\. .+$", text, re.M)]
    checked = [[name.removeprefix("hf_unlearn.") for name in layer] for layer in LAYERS]
    assert documented == checked, "docs/architecture.md's layers differ from tests/test_imports.py's LAYERS"


# --------------------------------------------------------------------------------------------------------- metrics


def logged_metric_keys() -> set[str]:
    """Every key the trainer logs: `loss`, `loss/<term>` for the terms the methods record (the per-method table of
    tests/test_methods.py, which checks that each method logs exactly those), and `eval_<key>` for every key
    `unlearning_metrics` returns when all its inputs are given."""
    import numpy as np
    from test_methods import METHOD_CASES

    from hf_unlearn.evaluation import unlearning_metrics

    rng = np.random.default_rng(0)
    splits = {"forget": 30, "forget_test": 30, "retain": 30, "test": 40}
    labels = {name: rng.integers(0, 3, size) for name, size in splits.items()}
    predictions = {name: np.where(rng.random(len(y)) < 0.8, y, (y + 1) % 3) for name, y in labels.items()}
    losses = {name: rng.gamma(2, 0.3, len(y)) for name, y in labels.items()}
    logits = {name: rng.normal(size=(len(y), 3)) for name, y in labels.items()}
    shadows = {name: np.stack([logits[name] + 0.1] * 2) for name in ("forget", "forget_test")}
    gold = {"train_time": 900.0, "mia": 0.55, "mia_heldout": 0.5, "lira_auc": 0.5}
    gold.update({f"{split}_{name}": 0.7 for split in splits for name in ("accuracy", "f1")})
    keys = set()
    for original_mia in (0.8, 0.5):  # a defined GUM, and an undefined one (with its reason)
        keys |= set(
            unlearning_metrics(
                predictions,
                labels,
                losses,
                original={"mia": original_mia},
                gold=gold,
                unlearning_time=45.0,
                num_classes=3,
                split_logits=logits,
                gold_logits=logits,
                shadow_logits=shadows,
            )
        )
    evaluation = {f"eval_{key}" for key in keys}
    terms = {f"loss/{term}" for case in METHOD_CASES.values() for term in case["terms"]}
    return {"loss"} | terms | evaluation


def _documented_key_patterns() -> list[re.Pattern]:
    """The first column of docs/metrics.md's table as patterns: `<split>`, `<key>` are placeholders, `a_U/E/T` is
    `a_U`, `a_E` and `a_T`."""
    table = _section((DOCS / "metrics.md").read_text(), "## Logged metrics")
    patterns = []
    for row in re.findall(r"^\| (.+?) \|", table, re.MULTILINE):
        for name in re.findall(r"`([^`]+)`", row):
            pattern = re.sub(r"<\w+>", r"\\w+", re.escape(name))
            pattern = re.sub(r"_(\w)/(\w)/(\w)$", r"_(\1|\2|\3)", pattern)
            patterns.append(re.compile(pattern))
    return patterns


def test_every_logged_metric_key_is_documented():
    patterns = _documented_key_patterns()
    undocumented = sorted(key for key in logged_metric_keys() if not any(p.fullmatch(key) for p in patterns))
    assert not undocumented, f"docs/metrics.md has no row for {undocumented}"


# ------------------------------------------------------------------------------------------------------- benchmark


def test_benchmark_block_is_the_generated_one():
    """docs/benchmarks.md holds the block `hf-unlearn benchmark --readme docs/benchmarks.md` writes, unchanged; the
    README's glance table says what that run's JSON says."""
    from hf_unlearn.benchmark.report_markdown import README_END, README_START
    from hf_unlearn.benchmark.untuned import results_block

    result = json.loads((ROOT / "recipes" / "results" / "fsdd.json").read_text())
    text = (DOCS / "benchmarks.md").read_text()
    found = re.search(re.escape(README_START) + ".*?" + re.escape(README_END), text, re.DOTALL)
    assert found and found.group(0) == results_block(result, "recipes/results/fsdd.json"), (
        "docs/benchmarks.md's results block was edited by hand"
    )
    glance = _section(README.read_text(), "## Results at a glance")
    rows = {g: (m, e) for g, m, e in re.findall(r"^\| (\w+) \| ([\w, ]+) \| ([\w, ]+) \|$", glance, re.M)}
    expected = {
        group: (", ".join(methods) or "none", ", ".join(result["targets_met_equivalence"][group]) or "none")
        for group, methods in result["targets_met"].items()
    }
    assert rows == expected, "the README's benchmark table differs from recipes/results/fsdd.json"


# ------------------------------------------------------------------------------------------------------ references

# Pieces are joined here so that this file does not match itself.
FORBIDDEN = [
    "CONVENTIONS" + ".md",
    "ENVIRONMENT" + ".md",
    "../" + "shared",
    "/work" + "/shared",
    "shared" + "/data/fsdd",
    "the " + "issue",
    "issue" + " #",
]
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".cfg", ".toml", ".txt", ".json", ".ini"}
SKIPPED_FOLDERS = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache", ".ruff_cache"}


def test_no_reference_to_files_outside_the_repository_or_to_a_tracker():
    hits = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED_FOLDERS and not name.endswith(".egg-info")]
        for name in files:
            path = Path(folder) / name
            if path.suffix not in TEXT_SUFFIXES and name != "Makefile":
                continue
            text = path.read_text(errors="ignore").lower()
            hits += [f"{path.relative_to(ROOT)}: {word!r}" for word in FORBIDDEN if word.lower() in text]
    assert not hits, "references to files outside the repository or to a tracker:\n" + "\n".join(hits)


@pytest.mark.parametrize("document", ["README.md", "CONTRIBUTING.md", "CHANGELOG.md"])
def test_top_level_documents_exist(document):
    assert (ROOT / document).is_file()
