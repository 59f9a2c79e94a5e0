"""The project's documents stay true to the code: the README's methods table is the registry's, its architecture map
names every module, and nothing in the repository points at files or trackers that its users do not have."""

import os
import re
from pathlib import Path

from hf_unlearn.methods import methods_markdown

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"


def test_readme_methods_table_is_current():
    readme = README.read_text()
    assert methods_markdown() in readme, "README methods table is stale: paste `hf-unlearn methods --markdown`"


def test_readme_architecture_names_every_module():
    block = README.read_text().split("## Architecture\n", 1)[1].split("\n## ", 1)[0]
    package = ROOT / "hf_unlearn"
    modules = [path.name for path in package.glob("*.py") if path.name != "__init__.py"]
    folders = [f"{path.name}/" for path in package.iterdir() if path.is_dir() and not path.name.startswith("__")]
    missing = [name for name in modules + folders if not re.search(rf"(^|[\s,(]){re.escape(name)}", block, re.M)]
    assert not missing, f"the README's architecture map does not name {missing}"
    existing = {path.name for path in package.rglob("*.py")}
    gone = sorted(set(re.findall(r"\b\w+\.py\b", block)) - existing)
    assert not gone, f"the README's architecture map names modules that do not exist: {gone}"


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
