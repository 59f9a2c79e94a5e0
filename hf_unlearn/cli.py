"""The `hf-unlearn` console script: `hf-unlearn demo ...`, `hf-unlearn methods`."""

from __future__ import annotations

import sys


def _methods() -> int:
    from hf_unlearn.registry import list_methods

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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"demo": "run the unlearning demo on built-in data", "methods": "list the unlearning methods"}
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        print("usage: hf-unlearn {demo,methods} [options]\n")
        for name, text in commands.items():
            print(f"  {name:<10} {text}")
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nUnknown command {argv[0]!r}.")
            return 2
        return 0
    if argv[0] == "methods":
        return _methods()
    return _demo(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
