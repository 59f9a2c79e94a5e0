"""The `hf-unlearn` console script: `hf-unlearn demo ...`, `hf-unlearn methods`, `hf-unlearn benchmark ...`."""

from __future__ import annotations

import sys


def _methods(argv: list[str]) -> int:
    from hf_unlearn.registry import list_methods, methods_markdown

    if "--markdown" in argv:
        print(methods_markdown(), end="")
        return 0

    print(f"{'key':<18} {'trainer':<24} {'teacher':<8} {'retain':<7} {'forget':<7} paper")
    for info in list_methods():
        flags = ["yes" if f else "no" for f in (info.requires_teacher, info.needs_retain, info.needs_forget)]
        print(
            f"{info.key:<18} {info.trainer_class.__name__:<24} {flags[0]:<8} {flags[1]:<7} {flags[2]:<7} {info.paper}"
        )
    return 0


def _demo(argv: list[str]) -> int:
    from transformers import HfArgumentParser

    from hf_unlearn.demo import DemoArguments, run_demo

    parser = HfArgumentParser(DemoArguments, prog="hf-unlearn demo")
    (args,) = parser.parse_args_into_dataclasses(argv)
    run_demo(args)
    return 0


def _benchmark(argv: list[str]) -> int:
    """Runs `recipes/benchmark.py` of the source tree (the benchmark ships with the repository, not the wheel)."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes", "benchmark.py")
    if not os.path.exists(path):
        print(
            f"The benchmark script is not at {path}: it ships with the hf-unlearn source repository. Clone it and "
            "install it with `pip install -e .`, or run `python recipes/benchmark.py` there."
        )
        return 2
    spec = importlib.util.spec_from_file_location("hf_unlearn_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module.main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {
        "demo": "run the unlearning demo on built-in data",
        "methods": "list the unlearning methods",
        "benchmark": "run the FSDD benchmark (recipes/benchmark.py): original, gold and every method",
    }
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        print("usage: hf-unlearn {demo,methods,benchmark} [options]\n")
        for name, text in commands.items():
            print(f"  {name:<10} {text}")
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nUnknown command {argv[0]!r}.")
            return 2
        return 0
    if argv[0] == "methods":
        return _methods(argv[1:])
    if argv[0] == "benchmark":
        return _benchmark(argv[1:])
    return _demo(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
