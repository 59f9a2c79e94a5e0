"""Mutation check of the code that decides results (a script, not a test; see docs/mutation_testing.md).

Each entry of `MUTANTS` is one deliberate bug in a decision-making module: an exact snippet of the source, its
replacement, and the tests that should catch it. For each entry the script copies the repository to a temporary
folder once, applies the one change there, runs the entry's tests against the copy (`PYTHONPATH=<copy>`), and records
the mutant as *killed* (a test failed or errored) or *survived* (every test passed); the copy's file is restored before
the next entry. The working tree is never modified.

A mutant that survives points at a missing test, or is equivalent (behaves like the original on every input): the
doc says which. `tests/test_mutation_table.py` (default suite) checks that every snippet still occurs exactly once in
its source, so the table cannot silently rot when the code changes.

Usage (from the repository root):

    python perf/mutations.py                      # every mutant, then the share killed per module
    python perf/mutations.py --only tuning.py     # the mutants of modules whose path contains "tuning.py"
    python perf/mutations.py --only gum.py kl.py  # several modules
    python perf/mutations.py --list               # the table, nothing run
    python perf/mutations.py --json mutants.json  # also write every outcome as JSON
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict

from mutation_table import MUTANTS, ROOT, Mutant, check_table

TIMEOUT_S = 600  # a mutant whose tests hang (e.g. a loop that never stops) counts as killed, noted "timeout"


def copy_repository(destination: str) -> None:
    """The files git knows (tracked and untracked-but-not-ignored), copied to `destination`."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    for relative in filter(None, listed.split("\0")):
        source = os.path.join(ROOT, relative)
        if not os.path.isfile(source):  # deleted in the work tree but still tracked
            continue
        target = os.path.join(destination, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target)


def run_tests(mutant: Mutant, copy: str, python: str) -> tuple:
    """Runs the entry's tests in `copy` (the default suite's selection: no slow or GPU tests), stopping at the first
    failure; returns (pytest's exit code or "timeout", the failed test ids)."""
    command = [python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--tb=no", "-rfE", *mutant.tests]
    command += ["-k", mutant.k] if mutant.k else []
    environment = {**os.environ, "PYTHONPATH": copy, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        done = subprocess.run(command, cwd=copy, env=environment, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return "timeout", []
    output = done.stdout + done.stderr
    failed = [line.split(" ")[1] for line in output.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    return done.returncode, failed


def passing_selections(mutants: list[Mutant], copy: str, python: str) -> set:
    """The test selections `(tests, k)` that pass on the unchanged code: a mutant is only judged by tests that pass
    without it. Each set of test files runs once without `-k` (when it passes, so does every `-k` subset of it); only
    the selections of a failing set run on their own."""
    passing = set()
    by_files: dict = defaultdict(set)
    for mutant in mutants:
        by_files[mutant.tests].add(mutant.k)
    for files, expressions in by_files.items():
        code, failed = run_tests(Mutant("", "", "", "", files), copy, python)
        if code == 0:
            passing |= {(files, k) for k in expressions}
            continue
        for k in sorted(expressions, key=str):
            code, failed = run_tests(Mutant("", "", "", "", files, k), copy, python)
            if code == 0:
                passing.add((files, k))
            else:
                print(f"Baseline fails for {' '.join(files)} -k {k!r}: {failed or code}; its mutants are not judged")
    return passing


def run_mutant(mutant: Mutant, copy: str, python: str) -> dict:
    """Applies `mutant` in `copy`, runs its tests, restores the file; returns the outcome."""
    path = os.path.join(copy, mutant.module)
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    if source.count(mutant.original) != 1:
        return {"status": "stale", "seconds": 0.0, "failed": []}
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(source.replace(mutant.original, mutant.replacement))
    started = time.perf_counter()
    try:
        code, failed = run_tests(mutant, copy, python)
    finally:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(source)
    seconds = time.perf_counter() - started
    if code == 0:
        status = "survived"
    elif code in (1, 2, "timeout"):  # 1: a test failed; 2: collection or import broke (the mutant broke the module)
        status = "killed"
    else:  # 5: no test selected, 3/4: pytest itself failed: the entry is wrong, not the code
        status = f"error (pytest exit {code})"
    return {"status": status, "seconds": round(seconds, 1), "failed": failed, "exit": code}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", nargs="+", help="run the mutants of modules whose path contains one of these texts (e.g. tuning.py)"
    )
    parser.add_argument("--list", action="store_true", help="print the table and exit")
    parser.add_argument("--json", help="write every outcome to this JSON file")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs pytest")
    args = parser.parse_args(argv)

    mutants = [m for m in MUTANTS if not args.only or any(text in m.module for text in args.only)]
    if args.list:
        for index, mutant in enumerate(mutants):
            k = f" -k {mutant.k!r}" if mutant.k else ""
            print(f"{index:3d} {mutant.module}: {mutant.what}\n      tests: {' '.join(mutant.tests)}{k}")
        return 0
    problems = check_table()
    if problems:
        print("The mutation table is stale:\n  " + "\n  ".join(problems))
        return 2

    started = time.perf_counter()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="hf_unlearn_mutants_") as copy:
        copy_repository(copy)
        baseline = passing_selections(mutants, copy, args.python)
        for index, mutant in enumerate(mutants):
            if (mutant.tests, mutant.k) not in baseline:
                outcome = {**asdict(mutant), "status": "baseline fails", "seconds": 0.0, "failed": []}
            else:
                outcome = {**asdict(mutant), **run_mutant(mutant, copy, args.python)}
            outcomes.append(outcome)
            failed = f" ({', '.join(outcome['failed'][:2])})" if outcome["failed"] else ""
            print(f"[{index + 1}/{len(mutants)}] {outcome['status']:8s} {outcome['seconds']:6.1f}s "
                  f"{mutant.module}: {mutant.what}{failed}", flush=True)  # fmt: skip

    per_module = defaultdict(lambda: [0, 0])
    for outcome in outcomes:
        per_module[outcome["module"]][0] += outcome["status"] == "killed"
        per_module[outcome["module"]][1] += outcome["status"] in ("killed", "survived")
    print("\n| Module | Killed | Mutants judged | Share killed |\n|---|---|---|---|")
    for module, (killed, total) in per_module.items():
        share = f"{killed / total:.0%}" if total else "–"
        print(f"| {module} | {killed} | {total} | {share} |")
    killed = sum(k for k, _ in per_module.values())
    judged = sum(t for _, t in per_module.values())
    wall = time.perf_counter() - started
    print(f"\n{killed} of {judged} judged mutants killed ({len(outcomes)} in the table) in {wall / 60:.1f} min.")
    for outcome in outcomes:
        if outcome["status"] != "killed":
            print(f"  {outcome['status']}: {outcome['module']}: {outcome['what']}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"wall_time_s": wall, "outcomes": outcomes}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
