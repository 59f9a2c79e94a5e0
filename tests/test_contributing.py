"""CONTRIBUTING.md's three checklists, checked: a new method, a new data layout or a new metric that misses one of the
places its checklist names fails here, with the list of what is missing. The toy tests add a toy method, layout and
metric in memory and check that every place the checklist names is reported missing for it.

Each check reads the entries from one function (`built_in_methods`, `data_layouts`, `logged_evaluation_keys`), the
one place to change when that list moves to a registry."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
CONTRIBUTING = ROOT / "CONTRIBUTING.md"


def _checklist(heading: str) -> str:
    return CONTRIBUTING.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def _places_named(heading: str, places: list[str]) -> list[str]:
    """The `places` that the checklist under `heading` does not name."""
    checklist = _checklist(heading)
    return [place for place in places if place not in checklist]


# ---------------------------------------------------------------------------------------------------------- methods

# The places of the method checklist that method_gaps checks, as the checklist names them.
METHOD_PLACES = [
    "hf_unlearn/methods/",
    "hf_unlearn/papers.py",
    "hf_unlearn/__init__.py",
    "tests/test_methods.py",
    "tests/test_behaviour.py",
    "tests/test_superloss.py",
    "hf_unlearn/experiment/settings/",
    "recipes/configs/",
    "docs/methods.md",
    "README.md",
]


def built_in_methods() -> list[str]:
    """The keys of the built-in methods: every registered method whose class lives in `hf_unlearn.methods`."""
    from hf_unlearn import list_methods

    return [info.key for info in list_methods() if info.trainer_class.__module__.startswith("hf_unlearn.methods.")]


def method_gaps(key: str) -> list[str]:
    """What the registered method `key` misses of its checklist, one line per place (each naming the place)."""
    from test_behaviour import BEHAVIOUR
    from test_methods import METHOD_CASES
    from test_superloss import CURRICULUM_TERMS

    import hf_unlearn
    from hf_unlearn import get_trainer_class

    gaps = []
    module = ROOT / "hf_unlearn" / "methods" / f"{key}.py"
    if not module.is_file():
        gaps.append(f"{key}: no file hf_unlearn/methods/{key}.py")
    elif "deviation" not in (ast.get_docstring(ast.parse(module.read_text())) or "").lower():
        gaps.append(f"{key}: the docstring of hf_unlearn/methods/{key}.py lists no deviations")
    if get_trainer_class(key).paper is None:
        gaps.append(f"{key}: no paper (a record in hf_unlearn/papers.py)")
    if key not in hf_unlearn.BUILT_IN_METHODS:
        gaps.append(f"{key}: no line in BUILT_IN_METHODS (hf_unlearn/__init__.py)")
    tables = {
        "tests/test_methods.py METHOD_CASES": METHOD_CASES,
        "tests/test_behaviour.py BEHAVIOUR": BEHAVIOUR,
        "tests/test_superloss.py CURRICULUM_TERMS": CURRICULUM_TERMS,
    }
    gaps += [f"{key}: no case in {name}" for name, table in tables.items() if key not in table]
    for path in sorted((ROOT / "hf_unlearn/experiment/settings").glob("*.json")):
        if key not in json.loads(path.read_text()).get("methods", {}):
            gaps.append(f"{key}: no entry in hf_unlearn/experiment/settings/{path.name}")
    for folder in sorted(path for path in (ROOT / "recipes/configs").iterdir() if path.is_dir()):
        if not (folder / f"{key}.yaml").is_file():
            gaps.append(f"{key}: no recipes/configs/{folder.name}/{key}.yaml (run recipes/configs/generate.py)")
    if f"### `{key}`" not in (ROOT / "docs/methods.md").read_text():
        gaps.append(f"{key}: no deviations section in docs/methods.md")
    if f"`{key}`" not in (ROOT / "README.md").read_text():
        gaps.append(f"{key}: not named in the Methods section of README.md")
    return gaps


def test_every_method_is_in_every_place_of_its_checklist():
    gaps = [gap for key in built_in_methods() for gap in method_gaps(key)]
    assert not gaps, "a method misses places of CONTRIBUTING.md's checklist:\n" + "\n".join(gaps)


def test_a_toy_method_is_reported_missing_from_every_place(monkeypatch):
    from hf_unlearn import UnlearningTrainer
    from hf_unlearn.trainer import registry

    monkeypatch.setattr(registry, "METHODS", dict(registry.METHODS))  # the toy's registration is undone afterwards

    class ToyTrainer(UnlearningTrainer, method="toy_method"):
        summary = "a toy"

    ToyTrainer.__module__ = "hf_unlearn.methods.toy_method"
    assert "toy_method" in built_in_methods()
    gaps = "\n".join(method_gaps("toy_method"))
    assert not [place for place in METHOD_PLACES if place not in gaps], gaps


def test_method_checklist_names_every_place():
    assert not _places_named("A new method", [*METHOD_PLACES, "docs/metrics.md", "CHANGELOG.md"])


# ---------------------------------------------------------------------------------------------------- data layouts

LAYOUT_PLACES = ["hf_unlearn/data/layouts.py", "tests/test_data_layouts.py", "docs/data.md", "recipes/README.md"]


def data_layouts() -> list[str]:
    """The data layouts the recipe and the benchmark load (`--data_layout`), `auto` left out."""
    from hf_unlearn.data import layouts

    return [layout.name for layout in layouts.DATA_LAYOUTS]


def layout_gaps(name: str) -> list[str]:
    """What the layout `name` misses of its checklist, one line per place (each naming the place)."""
    from test_data_layouts import LAYOUT_CASES

    from hf_unlearn.data import layouts

    record = next(layout for layout in layouts.DATA_LAYOUTS if layout.name == name)
    recipes_readme = (ROOT / "recipes/README.md").read_text().split("### Data sources", 1)[1].split("###", 1)[0]
    gaps = []
    if not callable(record.detect) or not callable(record.load):
        gaps.append(f"{name}: its record in hf_unlearn/data/layouts.py lacks a detector or a loader")
    if name not in LAYOUT_CASES:
        gaps.append(f"{name}: no case in LAYOUT_CASES of tests/test_data_layouts.py")
    if not re.search(rf"^\| `{name}` \|", (ROOT / "docs/data.md").read_text(), re.MULTILINE):
        gaps.append(f"{name}: no row in the layouts table of docs/data.md")
    if f"`{name}`" not in recipes_readme:
        gaps.append(f"{name}: not named in recipes/README.md, Data sources")
    return gaps


def test_every_data_layout_is_in_every_place_of_its_checklist():
    gaps = [gap for layout in data_layouts() for gap in layout_gaps(layout)]
    assert not gaps, "a data layout misses places of CONTRIBUTING.md's checklist:\n" + "\n".join(gaps)


def test_a_toy_layout_is_reported_missing_from_every_place(monkeypatch):
    from hf_unlearn.data import layouts

    toy = layouts.DataLayout(name="toy_layout", description="a toy", detect=None, load=None)
    monkeypatch.setattr(layouts, "DATA_LAYOUTS", (*layouts.DATA_LAYOUTS, toy))
    assert "toy_layout" in data_layouts()
    gaps = "\n".join(layout_gaps("toy_layout"))
    assert not [place for place in LAYOUT_PLACES if place not in gaps], gaps


def test_layout_checklist_names_every_place():
    assert not _places_named("A new dataset layout", [*LAYOUT_PLACES, "hf_unlearn/data/", "docs/architecture.md"])


# --------------------------------------------------------------------------------------------------------- metrics

METRIC_PLACES = ["hf_unlearn/evaluation/metric_table.py", "hf_unlearn/metrics/unlearning/README.md", "docs/metrics.md"]


def logged_evaluation_keys() -> set[str]:
    """The keys `unlearning_metrics` returns when all its inputs are given (logged with the `eval_` prefix)."""
    from test_readme import logged_metric_keys

    return {key.removeprefix("eval_") for key in logged_metric_keys() if key.startswith("eval_")}


def metric_gaps(keys: set[str]) -> list[str]:
    """What the evaluation keys `keys` miss of their checklist: a row in docs/metrics.md (patterns such as
    `eval_<split>_accuracy` count) and in the `unlearning` module's metric card; and every key that a report, card,
    audit log or benchmark summary picks out by name must be one of `keys`, so that a renamed metric cannot leave a
    stale copy behind."""
    from test_readme import _documented_key_patterns

    from hf_unlearn.benchmark.group_summary import SUMMARY_KEYS
    from hf_unlearn.evaluation.metric_table import METRICS
    from hf_unlearn.evaluation.report import OPTIONAL_COLUMNS, TABLE_COLUMNS
    from hf_unlearn.hub.audit import LOGGED_METRICS
    from hf_unlearn.hub.card import CARD_METRICS
    from hf_unlearn.metrics import metric_path

    card = (Path(metric_path("unlearning")) / "README.md").read_text()
    patterns = _documented_key_patterns()
    gaps = [
        f"{key}: no row in docs/metrics.md" for key in keys if not any(p.fullmatch(f"eval_{key}") for p in patterns)
    ]
    gaps += [f"{key}: no row in hf_unlearn/evaluation/metric_table.py" for key in keys if key not in METRICS]
    gaps += [
        f"{key}: no row in hf_unlearn/metrics/unlearning/README.md"
        for key in keys
        if f"`{key}`" not in card and not (key.endswith("_minus_gold") and "`<key>_minus_gold`" in card)
    ]
    # Names that are not evaluation outputs: timings the reports also show, and the benchmark's record of gold's.
    timings = {"time", "unlearning_time", "train_time", "train_runtime", "gold_train_time"}
    picked = {
        "hf_unlearn/hub/audit.py LOGGED_METRICS": set(LOGGED_METRICS),
        "hf_unlearn/hub/card.py CARD_METRICS": {entry[0] for entry in CARD_METRICS},
        "hf_unlearn/evaluation/report.py columns": {k for c in (*TABLE_COLUMNS, *OPTIONAL_COLUMNS) for k in c[1]},
        "hf_unlearn/benchmark/group_summary.py SUMMARY_KEYS": set(SUMMARY_KEYS),
    }
    for where, names in picked.items():
        gaps += [f"{where} names {name!r}, which the evaluation does not produce" for name in names - keys - timings]
    return gaps


def test_every_metric_is_in_every_place_of_its_checklist():
    gaps = metric_gaps(logged_evaluation_keys())
    assert not gaps, "a metric misses places of CONTRIBUTING.md's checklist:\n" + "\n".join(gaps)


def test_a_toy_metric_is_reported_missing_from_every_place(monkeypatch):
    import hf_unlearn.evaluation

    real = hf_unlearn.evaluation.unlearning_metrics
    monkeypatch.setattr(hf_unlearn.evaluation, "unlearning_metrics", lambda *a, **kw: {**real(*a, **kw), "toy": 1.0})
    keys = logged_evaluation_keys()
    assert "toy" in keys
    gaps = "\n".join(metric_gaps(keys))
    assert not [place for place in METRIC_PLACES if f"toy: no row in {place}" not in gaps], gaps


def test_metric_checklist_names_every_place():
    places = [*METRIC_PLACES, "hf_unlearn/evaluation/", "hf_unlearn/evaluation/unlearning_metrics.py"]
    assert not _places_named("A new metric", [*places, "tests/test_evaluation.py", "CHANGELOG.md"])
