"""The `hf-unlearn` console script: `hf-unlearn demo ...`, `hf-unlearn methods`, `hf-unlearn benchmark ...`.

Each command is a thin front end with its own `--help`. Nothing heavy (torch, transformers, datasets) is imported
until a command runs: the options come from light argument dataclasses (`hf_unlearn.cli.demo.DemoArguments`, the
benchmark's `BenchmarkArguments`) turned into `argparse` options by `hf_unlearn.cli.dataclass_options`, and only the
named command's options are built, so `hf-unlearn --help` answers at once.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from hf_unlearn.cli.dataclass_options import HelpFormatter, add_dataclass_arguments, namespace_to_dataclass
from hf_unlearn.version import __version__

# Command -> one line for `hf-unlearn --help`; `_HANDLERS` below adds its options and runs it.
COMMANDS = {
    "demo": "Run the unlearning workflow end to end on built-in data (original, gold, unlearned; a few minutes).",
    "methods": "List the unlearning methods (key, trainer, what each needs, paper).",
    "benchmark": "Run the FSDD benchmark: original, gold and every method over forget requests and seeds.",
}


# ------------------------------------------------------------------------------------------------------ methods
def _add_methods(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="Print the table in Markdown, as in docs/methods.md (paste it there when a method changes).",
    )


def _run_methods(args: argparse.Namespace, argv: list[str]) -> int:
    from hf_unlearn.methods import list_methods, methods_markdown

    if args.markdown:
        print(methods_markdown(), end="")
        return 0
    print(f"{'key':<18} {'trainer':<24} {'teacher':<8} {'retain':<7} {'forget':<7} paper")
    for info in list_methods():
        flags = ["yes" if f else "no" for f in (info.requires_teacher, info.uses_retain, info.uses_forget)]
        print(
            f"{info.key:<18} {info.trainer_class.__name__:<24} {flags[0]:<8} {flags[1]:<7} {flags[2]:<7} {info.paper}"
        )
    return 0


# --------------------------------------------------------------------------------------------------------- demo
def _add_demo(parser: argparse.ArgumentParser) -> None:
    from hf_unlearn.cli.demo import DemoArguments  # stdlib-only at import time

    parser.description = DemoArguments.__doc__
    add_dataclass_arguments(parser, DemoArguments)


def _run_demo(args: argparse.Namespace, argv: list[str]) -> int:
    from hf_unlearn.cli.demo import DemoArguments, run_demo

    run_demo(namespace_to_dataclass(args, DemoArguments))
    return 0


# ---------------------------------------------------------------------------------------------------- benchmark
def load_benchmark() -> ModuleType:
    """The benchmark package, `hf_unlearn.benchmark` (it ships in the wheel). It provides `BenchmarkArguments`
    (stdlib only, so `hf-unlearn benchmark --help` stays light) and `run_benchmark(args, argv)`."""
    import importlib

    return importlib.import_module("hf_unlearn.benchmark")


def _add_benchmark(parser: argparse.ArgumentParser) -> None:
    module = load_benchmark()
    parser.description = module.BenchmarkArguments.__doc__
    add_dataclass_arguments(parser, module.BenchmarkArguments)


def _run_benchmark(args: argparse.Namespace, argv: list[str]) -> int:
    module = load_benchmark()
    result = module.run_benchmark(namespace_to_dataclass(args, module.BenchmarkArguments), argv)
    return 1 if result["errors"] else 0


# --------------------------------------------------------------------------------------------------------- main
_HANDLERS = {
    "demo": (_add_demo, _run_demo),
    "methods": (_add_methods, _run_methods),
    "benchmark": (_add_benchmark, _run_benchmark),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `hf-unlearn` parser. Only `command`'s options are built (importing its argument definitions); the other
    subcommands are listed with their one-line help."""
    parser = argparse.ArgumentParser(
        prog="hf-unlearn",
        description="Machine unlearning for speech and audio models in the Hugging Face ecosystem.",
        epilog="Run `hf-unlearn <command> --help` for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"hf-unlearn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name, text in COMMANDS.items():
        sub = subparsers.add_parser(name, help=text, description=text, formatter_class=HelpFormatter)
        if name == command:
            _HANDLERS[name][0](sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(command).parse_args(argv)
    return _HANDLERS[args.command][1](args, argv[1:])


if __name__ == "__main__":
    sys.exit(main())
