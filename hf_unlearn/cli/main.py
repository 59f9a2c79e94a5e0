"""The `hf-unlearn` console script: `hf-unlearn unlearn ...`, `hf-unlearn tune ...`, `hf-unlearn demo ...`,
`hf-unlearn methods`, `hf-unlearn benchmark ...` (`python -m hf_unlearn.cli ...` is the same).

Each command is a thin front end with its own `--help`, a one-line summary and an example. Nothing heavy (torch,
transformers, datasets) is imported until a command runs: the options of `demo` and `benchmark` come from light
argument dataclasses (`hf_unlearn.cli.demo.DemoArguments`, the benchmark's `BenchmarkArguments`) turned into
`argparse` options by `hf_unlearn.cli.dataclass_options`, and only the named command's options are built, so
`hf-unlearn --help` answers at once. `unlearn` and `tune` take the experiment's `HfArgumentParser` arguments (and a
`--config` YAML, and the chosen method's config fields); their arguments are handed to the command's own parser
(`hf_unlearn.cli.unlearn`, `hf_unlearn.cli.tune`), which imports transformers only when that command is named.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from hf_unlearn.cli.dataclass_options import HelpFormatter, add_dataclass_arguments, namespace_to_dataclass
from hf_unlearn.version import __version__

# Command -> one line for `hf-unlearn --help`; `_HANDLERS` below adds its options and runs it.
COMMANDS = {
    "unlearn": "Forget a request (speakers, classes or recordings) from an audio classifier trained on your data.",
    "tune": "Tune one method's learning rate and length on your data (validation only); write a settings file.",
    "demo": "Watch unlearning work end to end on built-in keyword data (original, gold, unlearned; a few minutes).",
    "methods": "List the unlearning methods (key, trainer, what each needs, paper).",
    "benchmark": "Run the benchmark (FSDD or any audio data): original, gold and every method over requests, seeds.",
}
# Command -> one example, the epilog of its `--help`.
EXAMPLES = {
    "unlearn": "hf-unlearn unlearn --method neggrad_plus --model_type mfcc_cnn --dataset_name path/to/audio_folder "
    "--forget_classes yes --output_dir runs/forget-yes",
    "tune": "hf-unlearn tune --method neggrad_plus --model_type mfcc_cnn --dataset_name path/to/audio_folder "
    "--forget_classes yes --output_dir runs/tune-yes --settings_file my_settings.json",
    "demo": "hf-unlearn demo --output_dir unlearned_demo",
    "methods": "hf-unlearn methods --markdown",
    "benchmark": "hf-unlearn benchmark --dataset_name path/to/free-spoken-digit-dataset --quick --output_dir bench",
}
# Commands whose arguments go to the command's own (HfArgumentParser) parser: module, function of argv -> exit code.
OWN_PARSER = {"unlearn": "hf_unlearn.cli.unlearn", "tune": "hf_unlearn.cli.tune"}


class CommandHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown once per option, and the example's and notes' line breaks kept."""


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

    parser.epilog += "\n\n" + _body(DemoArguments.__doc__)
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
    parser.epilog += "\n\n" + _body(module.BenchmarkArguments.__doc__)
    add_dataclass_arguments(parser, module.BenchmarkArguments)


def _run_benchmark(args: argparse.Namespace, argv: list[str]) -> int:
    module = load_benchmark()
    result = module.run_benchmark(namespace_to_dataclass(args, module.BenchmarkArguments), argv)
    return 1 if result["errors"] else 0


# --------------------------------------------------------------------------------------------------------- main
def _body(doc: str | None) -> str:
    """A docstring without its first line (the summary says that), dedented."""
    import textwrap

    _, _, rest = (doc or "").partition("\n")
    return textwrap.dedent(rest).strip()


def _run_own_parser(command: str, argv: list[str]) -> int:
    import importlib

    return importlib.import_module(OWN_PARSER[command]).command(argv)


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
        description="Machine unlearning for speech and audio models in the Hugging Face ecosystem: forget speakers,\n"
        "classes or recordings from a trained audio classifier, and compare it with a model retrained without them.",
        epilog="example: hf-unlearn demo    (then: hf-unlearn unlearn --help)\n"
        "Run `hf-unlearn <command> --help` for the options of a command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hf-unlearn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name, text in COMMANDS.items():
        example = f"example: {EXAMPLES[name]}"
        sub = subparsers.add_parser(
            name, help=text, description=text, epilog=example, formatter_class=CommandHelpFormatter
        )
        if name == command and name in _HANDLERS:
            _HANDLERS[name][0](sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    if command in OWN_PARSER:
        return _run_own_parser(command, argv[1:])
    args = build_parser(command).parse_args(argv)
    return _HANDLERS[args.command][1](args, argv[1:])


if __name__ == "__main__":
    sys.exit(main())
