"""The method registry: defining `class XTrainer(UnlearningTrainer, method="x")` stores `XTrainer` under `"x"` and its
aliases ([`register`]), `UnlearningTrainer(method="x", ...)` returns an `XTrainer` ([`dispatch`]), and
[`list_methods`] says what each registered method needs and the paper it comes from.

Importing `hf_unlearn.methods` registers the built-in methods (`hf_unlearn.BUILT_IN_METHODS`); it re-exports the
listing functions below, so `from hf_unlearn.methods import list_methods` always lists them."""

from __future__ import annotations

from dataclasses import dataclass

from hf_unlearn.papers import Paper

METHODS: dict[str, type] = {}
ALIASES: dict[str, str] = {}


def register(key: str, trainer_class: type, aliases: tuple[str, ...] = ()) -> None:
    """Stores `trainer_class` under `key` (lower-case) and its `aliases`; a key may be registered once."""
    if key != key.lower():
        raise ValueError(f"Method keys are lower-case, got {key!r}.")
    for name in (key, *aliases):
        owner = METHODS.get(name) or METHODS.get(ALIASES.get(name, ""))
        if owner is not None and owner.__qualname__ != trainer_class.__qualname__:
            raise ValueError(f"Method key {name!r} is already registered by {owner.__name__}.")
    METHODS[key] = trainer_class
    ALIASES.update({alias: key for alias in aliases})


def registered_trainer_class(method: str) -> type:
    """The trainer class registered under `method` (or an alias); the error lists the registered keys."""
    key = ALIASES.get(method.lower(), method.lower()) if isinstance(method, str) else method
    if key not in METHODS:
        raise ValueError(
            f"Unknown unlearning method {method!r}. Known methods: {', '.join(sorted(METHODS)) or 'none yet'} "
            "(importing hf_unlearn.methods registers the built-in ones; `from hf_unlearn import UnlearningTrainer` "
            "and hf_unlearn.list_methods() do it)."
        )
    return METHODS[key]


def dispatch(cls: type, base: type, args: tuple, kwargs: dict, method: str | None) -> type:
    """The class `cls(*args, method=method, **kwargs)` instantiates: for the dispatcher `base` (`UnlearningTrainer`)
    the class registered under `method` (or `args.method`); a method's own class refuses another method's key."""
    if method is None:  # `args` may come by keyword or, as with a plain Trainer, second positionally
        config = kwargs["args"] if "args" in kwargs else args[1] if len(args) > 1 else None
        method = getattr(config, "method", None)
    if cls is base:
        if method is None:
            raise ValueError(
                f"{cls.__name__} needs method=<key> (see hf_unlearn.list_methods()), or use a "
                "method's trainer class directly, e.g. NegGradPlusTrainer."
            )
        return registered_trainer_class(method)
    if method is not None and registered_trainer_class(method) is not cls:
        raise ValueError(f"{cls.__name__} runs {cls.method_key!r}, not {method!r}: use UnlearningTrainer(method=...).")
    if cls.method_key is None:
        raise TypeError(f"Instantiate {base.__name__} with method=<key> or a registered subclass, not {cls.__name__}.")
    return cls


@dataclass(frozen=True)
class MethodInfo:
    """What `list_methods()` says of one method.

    Args:
        key (`str`): the name given to `UnlearningTrainer(method=...)`.
        trainer_class (`type`): the registered `UnlearningTrainer` subclass.
        config_class (`type`): its `UnlearningConfig` subclass.
        paper ([`~hf_unlearn.papers.Paper`] or `None`): the paper of the method.
        tasks (`tuple[str]`): the tasks it supports.
        requires_teacher (`bool`): whether it uses a frozen copy of the original model.
        uses_retain (`bool`): whether it trains on retain data (with its default config).
        uses_forget (`bool`): whether it trains on forget data (with its default config).
        aliases (`tuple[str]`): other keys accepted for it.
        summary (`str`): one line on what it does.
        unslu_learning_rate (`float` or `None`): the learning rate of its `"unslu"` preset, if UnSLU-BENCH runs it.
        peft_support (`str`): `"adapter"` (runs with `peft_config=`) or `"refuse"`.
    """

    key: str
    trainer_class: type
    config_class: type
    paper: Paper | None
    tasks: tuple[str, ...]
    requires_teacher: bool
    uses_retain: bool
    uses_forget: bool
    aliases: tuple[str, ...] = ()
    summary: str = ""
    unslu_learning_rate: float | None = None
    peft_support: str = "adapter"

    def __repr__(self) -> str:
        flags = (("teacher", self.requires_teacher), ("retain", self.uses_retain), ("forget", self.uses_forget))
        needs = [name for name, flag in flags if flag]
        return f"MethodInfo({self.key!r}, {self.trainer_class.__name__}, needs={needs}, paper={str(self.paper)!r})"


def get_trainer_class(method: str) -> type:
    """Returns the trainer class registered under `method` (or an alias); the error lists the known keys."""
    return registered_trainer_class(method)


def list_methods() -> list[MethodInfo]:
    """Every registered method with its key, classes, paper, tasks and what it needs, sorted by key."""
    infos = []
    for key in sorted(METHODS):
        cls = METHODS[key]
        infos.append(
            MethodInfo(
                key=key,
                trainer_class=cls,
                config_class=cls.config_class,
                paper=cls.paper,
                tasks=tuple(cls.supported_tasks),
                requires_teacher=cls.requires_teacher,
                uses_retain=cls.uses_retain,
                uses_forget=cls.uses_forget,
                aliases=tuple(sorted(a for a, k in ALIASES.items() if k == key)),
                summary=cls.summary,
                unslu_learning_rate=cls.config_class.PRESETS.get("unslu", {}).get("learning_rate"),
                peft_support=cls.peft_support,
            )
        )
    return infos


def methods_markdown() -> str:
    """The methods table of docs/methods.md, generated from the registry (`hf-unlearn methods --markdown`)."""
    yes_no = {True: "yes", False: "no"}
    lines = [
        "| key | method | paper | teacher | retain | forget | UnSLU preset lr | PEFT |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for info in list_methods():
        key = f"`{info.key}`" + (f" (`{'`, `'.join(info.aliases)}`)" if info.aliases else "")
        lr = f"{info.unslu_learning_rate:g}" if info.unslu_learning_rate is not None else "–"
        teacher = "original" if info.requires_teacher else "no"
        paper = info.paper.markdown() if info.paper is not None else "–"
        lines.append(
            f"| {key} | {info.summary} | {paper} | {teacher} | {yes_no[info.uses_retain]} | "
            f"{yes_no[info.uses_forget]} | {lr} | {'LoRA' if info.peft_support == 'adapter' else 'refuses'} |"
        )
    return "\n".join(lines) + "\n"
