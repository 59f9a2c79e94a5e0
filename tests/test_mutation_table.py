"""The mutation table of perf/mutations.py stays in step with the sources: every snippet it mutates still occurs
exactly once in its module, and every test file it runs exists (the check itself runs outside the default suite)."""

from __future__ import annotations

import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_table():
    spec = importlib.util.spec_from_file_location("mutation_table", os.path.join(ROOT, "perf", "mutation_table.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_mutant_snippet_still_occurs_once_in_its_source():
    table = load_table()
    assert table.check_table(ROOT) == []


def test_the_table_covers_every_decision_making_module():
    table = load_table()
    covered = {mutant.module for mutant in table.MUTANTS}
    deciding = {
        f"hf_unlearn/evaluation/{name}.py" for name in ("mia", "gum", "kl", "subsets", "unlearning_metrics", "lira")
    }
    deciding |= {"hf_unlearn/benchmark/tuning.py", "hf_unlearn/experiment/run.py", "hf_unlearn/experiment/results.py"}
    deciding |= {"hf_unlearn/losses.py", "hf_unlearn/data/splits.py", "hf_unlearn/data/request_splits.py"}
    methods = os.path.join(ROOT, "hf_unlearn", "methods")
    deciding |= {f"hf_unlearn/methods/{name}" for name in os.listdir(methods) if name not in ("__init__.py",)}
    deciding = {name for name in deciding if name.endswith(".py")}
    assert deciding <= covered, sorted(deciding - covered)


def test_the_table_check_catches_a_stale_snippet(tmp_path):
    table = load_table()
    mutant = table.MUTANTS[0]
    source = open(os.path.join(ROOT, mutant.module), encoding="utf-8").read()
    (tmp_path / os.path.dirname(mutant.module)).mkdir(parents=True)
    (tmp_path / mutant.module).write_text(source.replace(mutant.original, "# gone"), encoding="utf-8")
    problems = table.check_table(str(tmp_path))
    assert any(mutant.original in problem and "0 times" in problem for problem in problems)
