"""The package's modules import downward: no circle between hf_unlearn modules, in-function imports included.

Only the package `__init__` and `cli.py` may import lazily (they are front ends), so they are left out as importers.
"""

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "hf_unlearn"
LAZY_IMPORTERS = {"hf_unlearn", "hf_unlearn.cli.main"}


def _module_name(path: Path) -> str:
    parts = ("hf_unlearn", *path.relative_to(PACKAGE_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)


def _resolve(name: str, modules: set[str]) -> str | None:
    """The package module `name` refers to: itself, or the closest enclosing module (`a.b.func` -> `a.b`)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> dict[str, set[str]]:
    """`{module: modules it imports}` over every hf_unlearn module, top-level and in-function imports alike."""
    paths = {_module_name(path): path for path in PACKAGE_ROOT.rglob("*.py")}
    modules = set(paths)
    graph = {}
    for module, path in paths.items():
        is_package = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = module.split(".") if is_package else module.split(".")[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                # `from package import name` imports the package, and the submodule when `name` is one.
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                resolved = _resolve(target, modules)
                if resolved is not None and resolved != module:
                    edges.add(resolved)
        graph[module] = set() if module in LAZY_IMPORTERS else edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `graph` as a list of modules (first == last), or `None`."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for child in sorted(graph.get(node, ())):
            if state.get(child) == "open":
                return stack[stack.index(child) :] + [child]
            if child not in state:
                found = visit(child)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_find_cycle_detects_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_import_graph_sees_in_function_imports():
    graph = import_graph()
    assert "hf_unlearn.trainer.trainer" in graph and graph["hf_unlearn.trainer.trainer"], (
        "the graph must see the trainer's imports"
    )


def test_no_import_circle_between_package_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


# The architecture's layers, lowest first (docs/architecture.md): a module may import its own layer or lower ones.
LAYERS = (
    ("hf_unlearn.version", "hf_unlearn.files", "hf_unlearn.papers", "hf_unlearn.losses", "hf_unlearn.tasks"),
    ("hf_unlearn.data", "hf_unlearn.evaluation", "hf_unlearn.models"),
    ("hf_unlearn.checks", "hf_unlearn.peft_utils", "hf_unlearn.metrics"),
    ("hf_unlearn.hub",),
    ("hf_unlearn.trainer",),
    ("hf_unlearn.methods",),
    ("hf_unlearn.experiment",),
    ("hf_unlearn.benchmark",),
    ("hf_unlearn.cli",),
)


def layer_of(module: str) -> int:
    for index, layer in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in layer):
            return index
    raise AssertionError(f"{module} is in no layer of LAYERS: add it (and to docs/architecture.md).")


def test_subpackages_import_downward():
    upward = [
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        if module != "hf_unlearn"
        for target in targets
        if target != "hf_unlearn" and layer_of(target) > layer_of(module)
    ]
    assert not upward, "imports that point up the layers:\n" + "\n".join(sorted(upward))
