"""CONTRIBUTING.md's three checklists, checked: a new method, a new data layout or a new metric that misses one of the
places its checklist names fails here, with the list of what is missing.

Each test reads the list of entries from one function (`built_in_methods`, `data_layouts`, `logged_evaluation_keys`),
the one place to change when that list moves to a registry."""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
CONTRIBUTING = ROOT / "CONTRIBUTING.md"


def _checklist(heading: str) -> str:
    return CONTRIBUTING.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


# ---------------------------------------------------------------------------------------------------------- methods


def built_in_methods() -> list[str]:
    """The keys of the built-in methods: every registered method whose class lives in `hf_unlearn.methods`."""
    from hf_unlearn import list_methods

    return [info.key for info in list_methods() if info.trainer_class.__module__.startswith("hf_unlearn.methods.")]


def test_every_method_is_in_every_place_of_its_checklist():
    from test_behaviour import BEHAVIOUR
    from test_methods import METHOD_CASES
    from test_superloss import CURRICULUM_TERMS

    import hf_unlearn
    from hf_unlearn import get_trainer_class

    tables = {
        "tests/test_methods.py METHOD_CASES": METHOD_CASES,
        "tests/test_behaviour.py BEHAVIOUR": BEHAVIOUR,
        "tests/test_superloss.py CURRICULUM_TERMS": CURRICULUM_TERMS,
    }
    settings = {
        path: json.loads(path.read_text()) for path in (ROOT / "hf_unlearn/experiment/settings").glob("*.json")
    }
    config_folders = [path for path in (ROOT / "recipes/configs").iterdir() if path.is_dir()]
    methods_doc = (ROOT / "docs/methods.md").read_text()
    readme = (ROOT / "README.md").read_text()
    missing = []
    for key in built_in_methods():
        trainer_class = get_trainer_class(key)
        module = Path(inspect.getfile(trainer_class))
        docstring = ast.get_docstring(ast.parse(module.read_text())) or ""
        if module != ROOT / "hf_unlearn" / "methods" / f"{key}.py":
            missing.append(f"{key}: its file is {module.name}, not hf_unlearn/methods/{key}.py")
        if "deviation" not in docstring.lower():
            missing.append(f"{key}: hf_unlearn/methods/{key}.py's docstring lists no deviations")
        if trainer_class.paper is None:
            missing.append(f"{key}: no paper (a record in hf_unlearn/papers.py)")
        if key not in hf_unlearn.BUILT_IN_METHODS:
            missing.append(f"{key}: no line in hf_unlearn.BUILT_IN_METHODS (hf_unlearn/__init__.py)")
        missing += [f"{key}: no case in {name}" for name, table in tables.items() if key not in table]
        for path, content in settings.items():
            if key not in content.get("methods", {}):
                missing.append(f"{key}: no entry in hf_unlearn/experiment/settings/{path.name}")
        for folder in config_folders:
            if not (folder / f"{key}.yaml").is_file():
                missing.append(f"{key}: no recipes/configs/{folder.name}/{key}.yaml (run recipes/configs/generate.py)")
        if f"### `{key}`" not in methods_doc:
            missing.append(f"{key}: no deviations section in docs/methods.md")
        if f"`{key}`" not in readme:
            missing.append(f"{key}: not named in the README's Methods section")
    assert not missing, "a method misses places of CONTRIBUTING.md's checklist:\n" + "\n".join(missing)


def test_method_checklist_names_every_place():
    checklist = _checklist("A new method")
    places = [
        "hf_unlearn/methods/",
        "hf_unlearn/papers.py",
        "hf_unlearn/__init__.py",
        "tests/test_methods.py",
        "tests/test_behaviour.py",
        "tests/test_superloss.py",
        "hf_unlearn/experiment/settings/",
        "recipes/configs/generate.py",
        "docs/methods.md",
        "README.md",
        "docs/metrics.md",
        "CHANGELOG.md",
    ]
    assert not [place for place in places if place not in checklist]


# ---------------------------------------------------------------------------------------------------- data layouts


def data_layouts() -> list[str]:
    """The data layouts the recipe and the benchmark load (`--data_layout`), `auto` left out."""
    from hf_unlearn.experiment.data import DATA_LAYOUTS

    return [layout for layout in DATA_LAYOUTS if layout != "auto"]


# Layouts without an offline test, and why.
UNTESTED_LAYOUTS = {"hub": "the Hub is unreachable from the test suite"}


def test_every_data_layout_is_in_every_place_of_its_checklist():
    from hf_unlearn.experiment.data import detect_layout, load_audio_dataset

    detector, loader = inspect.getsource(detect_layout), inspect.getsource(load_audio_dataset)
    tests = "".join(path.read_text() for path in (ROOT / "tests").glob("test_*.py"))
    table = (ROOT / "docs/data.md").read_text()
    recipes_readme = (ROOT / "recipes/README.md").read_text()
    missing = []
    for layout in data_layouts():
        if layout != "hub" and f'return "{layout}"' not in detector:
            missing.append(f"{layout}: detect_layout (hf_unlearn/experiment/data.py) never returns it")
        if f'"{layout}"' not in loader and f"load_{layout}(" not in loader:
            missing.append(f"{layout}: load_audio_dataset (hf_unlearn/experiment/data.py) has no loader for it")
        if layout not in UNTESTED_LAYOUTS and f'["data_layout"] == "{layout}"' not in tests:
            missing.append(f'{layout}: no test runs the recipe on it (results["data_layout"] == "{layout}")')
        if not re.search(rf"^\| `{layout}` \|", table, re.MULTILINE):
            missing.append(f"{layout}: no row in the layouts table of docs/data.md")
        if f"`{layout}`" not in recipes_readme.split("### Data sources", 1)[1].split("###", 1)[0]:
            missing.append(f"{layout}: not named in recipes/README.md, Data sources")
    assert not missing, "a data layout misses places of CONTRIBUTING.md's checklist:\n" + "\n".join(missing)


def test_layout_checklist_names_every_place():
    checklist = _checklist("A new dataset layout")
    places = ["hf_unlearn/data/", "hf_unlearn/experiment/data.py", "tests/test_recipes.py", "docs/data.md"]
    places += ["recipes/README.md", "docs/architecture.md", "CHANGELOG.md"]
    assert not [place for place in places if place not in checklist]


# --------------------------------------------------------------------------------------------------------- metrics


def logged_evaluation_keys() -> set[str]:
    """The keys `unlearning_metrics` returns when all its inputs are given (logged with the `eval_` prefix)."""
    from test_readme import logged_metric_keys

    return {key.removeprefix("eval_") for key in logged_metric_keys() if key.startswith("eval_")}


def test_every_metric_is_in_every_place_of_its_checklist():
    """Each evaluation key has a row in docs/metrics.md (tests/test_readme.py checks the patterns) and in the
    `unlearning` module's metric card; and every key that a report, card, audit log or benchmark summary picks out
    by name is one that the evaluation produces, so that a renamed metric cannot leave a stale copy behind."""
    from test_readme import _documented_key_patterns

    from hf_unlearn.benchmark.group_summary import SUMMARY_KEYS
    from hf_unlearn.evaluation.report import OPTIONAL_COLUMNS, TABLE_COLUMNS
    from hf_unlearn.hub.audit import LOGGED_METRICS
    from hf_unlearn.hub.card import CARD_METRICS
    from hf_unlearn.metrics import metric_path

    keys = logged_evaluation_keys()
    card = (Path(metric_path("unlearning")) / "README.md").read_text()
    patterns = _documented_key_patterns()
    missing = [
        f"{key}: no row in docs/metrics.md" for key in keys if not any(p.fullmatch(f"eval_{key}") for p in patterns)
    ]
    missing += [
        f"{key}: not in hf_unlearn/metrics/unlearning/README.md"
        for key in keys
        if f"`{key}`" not in card and not (key.endswith("_minus_gold") and "`<key>_minus_gold`" in card)
    ]
    # Keys that are not evaluation outputs: timings the reports also show, and the benchmark's record of gold's.
    timings = {"time", "unlearning_time", "train_time", "train_runtime", "gold_train_time"}
    picked = {
        "hf_unlearn/hub/audit.py LOGGED_METRICS": set(LOGGED_METRICS),
        "hf_unlearn/hub/card.py CARD_METRICS": {entry[0] for entry in CARD_METRICS},
        "hf_unlearn/evaluation/report.py TABLE_COLUMNS": {
            k for column in (*TABLE_COLUMNS, *OPTIONAL_COLUMNS) for k in column[1]
        },
        "hf_unlearn/benchmark/group_summary.py SUMMARY_KEYS": set(SUMMARY_KEYS),
    }
    for where, names in picked.items():
        missing += [
            f"{where} names {name!r}, which the evaluation does not produce" for name in names - keys - timings
        ]
    assert not missing, "a metric misses places of CONTRIBUTING.md's checklist:\n" + "\n".join(missing)


def test_metric_checklist_names_every_place():
    checklist = _checklist("A new metric")
    places = [
        "hf_unlearn/evaluation/",
        "hf_unlearn/evaluation/unlearning_metrics.py",
        "tests/test_evaluation.py",
        "hf_unlearn/metrics/unlearning/README.md",
        "docs/metrics.md",
        "CHANGELOG.md",
    ]
    assert not [place for place in places if place not in checklist]
