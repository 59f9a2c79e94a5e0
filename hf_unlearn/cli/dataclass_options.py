"""Command-line options from argument dataclasses, with the standard library only.

The front ends (`hf-unlearn demo`, `hf-unlearn benchmark`) declare their options once, as a dataclass whose fields
carry `metadata={"help": ...}`, and this module turns it into `argparse` options the way `HfArgumentParser` of
transformers does (`--name VALUE`, `--flag [true|false]` plus `--no_flag` for flags on by default, lists with
`nargs="+"`, dashes accepted for underscores), so that `--help` answers without importing transformers (about a second)
or torch. Two metadata keys are added for renamed options:

- `"aliases"`: old spellings of the option (e.g. `["--fsdd"]`); they still parse, are left out of `--help`, and print a
  deprecation note naming the new spelling when used.
- `"deprecated"`: the whole field is an old spelling that the dataclass converts itself (e.g. `--forget speaker:X`);
  the value is the note printed when it is used.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing


def string_to_bool(value: str | bool) -> bool:
    """`"true"`/`"false"` (and yes/no, 1/0) as a bool, like `transformers.HfArgumentParser`."""
    if isinstance(value, bool):
        return value
    if value.lower() in ("yes", "true", "t", "y", "1"):
        return True
    if value.lower() in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"Expected true or false (yes/no, 1/0), got {value!r}.")


class HelpFormatter(argparse.HelpFormatter):
    """Adds `(default: X)` to a help line unless the line already says what the default is, or there is none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" in text.lower()
            or any(action.default is value for value in (None, False, argparse.SUPPRESS))
            or not action.option_strings
        ):
            return text
        default = " ".join(map(str, action.default)) if isinstance(action.default, list) else action.default
        return f"{text} (default: {default})"


class _DeprecatedOption(argparse.Action):
    """Stores like the option it stands for, and says on stderr which spelling replaces it."""

    def __init__(self, *args, note: str, **kwargs):
        self.note = note
        super().__init__(*args, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: {option_string} is deprecated: {self.note}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _unwrap_optional(annotation):
    """`X | None` -> `X`; other annotations unchanged."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) != 1:
            raise TypeError(f"Only `X | None` unions can be options, got {annotation}.")
        return args[0]
    return annotation


def _option_kwargs(spec: dataclasses.Field, annotation) -> dict:
    """argparse keyword arguments for one field (type, nargs, default, const)."""
    kind = _unwrap_optional(annotation)
    kwargs = {"default": spec.default}
    if spec.default_factory is not dataclasses.MISSING:
        kwargs["default"] = spec.default_factory()
    elif spec.default is dataclasses.MISSING:
        kwargs = {"required": True}
    if kind is bool:
        kwargs.update(type=string_to_bool, nargs="?", const=True)
        kwargs.setdefault("default", False)
    elif typing.get_origin(kind) is list:
        kwargs.update(type=typing.get_args(kind)[0], nargs="+")
    elif typing.get_origin(kind) is typing.Literal:
        kwargs.update(choices=typing.get_args(kind), type=type(typing.get_args(kind)[0]))
    else:
        kwargs["type"] = kind
    return kwargs


def _declaring_class(dataclass_type: type, name: str) -> type:
    """The most basic dataclass of `dataclass_type`'s bases that declares field `name` (itself when none does)."""
    bases = [cls for cls in reversed(dataclass_type.__mro__) if name in getattr(cls, "__dataclass_fields__", {})]
    return bases[0] if bases else dataclass_type


def add_dataclass_arguments(parser: argparse.ArgumentParser, dataclass_type: type) -> argparse.ArgumentParser:
    """Adds one option per init field of `dataclass_type` to `parser` (see the module docstring); returns `parser`.

    Fields declared by a base dataclass (e.g. the reference-training options every front end shares) are listed after
    the command's own, in a group per base titled by the first line of its docstring."""
    hints = typing.get_type_hints(dataclass_type)
    groups = {}
    owners = {spec.name: _declaring_class(dataclass_type, spec.name) for spec in dataclasses.fields(dataclass_type)}
    # The command's own options first (a stable sort keeps the declaration order within each part).
    for spec in sorted(dataclasses.fields(dataclass_type), key=lambda spec: owners[spec.name] is not dataclass_type):
        if not spec.init:
            continue
        owner = owners[spec.name]
        if owner is not dataclass_type and owner not in groups:
            title = (owner.__doc__ or owner.__name__).strip().split("\n")[0].rstrip(":.")
            groups[owner] = parser.add_argument_group(title)
        target = groups.get(owner, parser)
        kwargs = _option_kwargs(spec, hints[spec.name])
        help_text = spec.metadata.get("help")
        name = f"--{spec.name}"
        dashed = [f"--{spec.name.replace('_', '-')}"] if "_" in spec.name else []
        if spec.metadata.get("deprecated"):
            note = spec.metadata["deprecated"]
            target.add_argument(name, *dashed, action=_DeprecatedOption, note=note, help=argparse.SUPPRESS, **kwargs)
            continue
        target.add_argument(name, help=help_text, **kwargs)
        # Dashed spellings parse like transformers' parser, without doubling every help line.
        hidden = {key: value for key, value in kwargs.items() if key not in ("default", "required")}
        if dashed:
            target.add_argument(*dashed, dest=spec.name, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **hidden)
        for alias in spec.metadata.get("aliases", ()):
            target.add_argument(
                alias,
                dest=spec.name,
                action=_DeprecatedOption,
                note=f"use {name}.",
                default=argparse.SUPPRESS,
                help=argparse.SUPPRESS,
                **hidden,
            )
        if kwargs.get("type") is string_to_bool and kwargs.get("default") is True:
            target.add_argument(
                f"--no_{spec.name}",
                action="store_const",
                const=False,
                dest=spec.name,
                default=argparse.SUPPRESS,
                help=f"Same as `{name} false`.",
            )
    return parser


def namespace_to_dataclass(namespace: argparse.Namespace, dataclass_type: type):
    """Builds `dataclass_type` from the parsed options (other attributes of `namespace` are ignored)."""
    values = {spec.name: getattr(namespace, spec.name) for spec in dataclasses.fields(dataclass_type) if spec.init}
    return dataclass_type(**values)


def parse_dataclass(dataclass_type: type, argv: list[str] | None = None, prog: str | None = None):
    """Parses `argv` (default: `sys.argv[1:]`) into `dataclass_type`; `--help` lists every field's option."""
    parser = argparse.ArgumentParser(prog=prog, description=dataclass_type.__doc__, formatter_class=HelpFormatter)
    add_dataclass_arguments(parser, dataclass_type)
    return namespace_to_dataclass(parser.parse_args(argv), dataclass_type)
