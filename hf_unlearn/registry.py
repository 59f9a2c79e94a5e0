"""The method registry, filled by subclassing: `class XTrainer(UnlearningTrainer, method="x")` registers `"x"`."""

from __future__ import annotations

from dataclasses import dataclass

_REGISTRY: dict[str, type] = {}
_ALIASES: dict[str, str] = {}


@dataclass(frozen=True)
class MethodInfo:
    """What `list_methods()` says of one method.

    Args:
        key (`str`): the name given to `UnlearningTrainer(method=...)`.
        trainer_class (`type`): the registered `UnlearningTrainer` subclass.
        config_class (`type`): its `UnlearningConfig` subclass.
        paper (`str`): the citation of the method.
        tasks (`tuple[str]`): the tasks it supports.
        requires_teacher (`bool`): whether it uses a frozen copy of the original model.
        needs_retain (`bool`): whether it trains on retain data.
        needs_forget (`bool`): whether it trains on forget data.
        aliases (`tuple[str]`): other keys accepted for it.
        summary (`str`): one line on what it does.
        unslu_learning_rate (`float` or `None`): the learning rate of its `"unslu"` preset, if UnSLU-BENCH runs it.
        peft_support (`str`): `"adapter"` (runs with `peft_config=`) or `"refuse"`.
    """

    key: str
    trainer_class: type
    config_class: type
    paper: str
    tasks: tuple[str, ...]
    requires_teacher: bool
    needs_retain: bool
    needs_forget: bool
    aliases: tuple[str, ...] = ()
    summary: str = ""
    unslu_learning_rate: float | None = None
    peft_support: str = "adapter"

    def __repr__(self) -> str:
        needs = [
            n
            for n, flag in (
                ("teacher", self.requires_teacher),
                ("retain", self.needs_retain),
                ("forget", self.needs_forget),
            )
            if flag
        ]
        return f"MethodInfo({self.key!r}, {self.trainer_class.__name__}, needs={needs}, paper={self.paper!r})"


def register(key: str, trainer_class: type, aliases: tuple[str, ...] = ()) -> None:
    """Registers `trainer_class` under `key` (lower-case) and its `aliases`; a key may be registered once."""
    if key != key.lower():
        raise ValueError(f"Method keys are lower-case, got {key!r}.")
    for name in (key, *aliases):
        owner = _REGISTRY.get(name) or _REGISTRY.get(_ALIASES.get(name, ""))
        if owner is not None and owner.__qualname__ != trainer_class.__qualname__:
            raise ValueError(f"Method key {name!r} is already registered by {owner.__name__}.")
    _REGISTRY[key] = trainer_class
    for alias in aliases:
        _ALIASES[alias] = key


def _load_builtin_methods() -> None:
    # Importing the package registers every built-in method (each file subclasses UnlearningTrainer).
    import hf_unlearn.methods  # noqa: F401


def get_trainer_class(method: str) -> type:
    """Returns the trainer class registered under `method` (or an alias); the error lists the known keys."""
    _load_builtin_methods()
    key = _ALIASES.get(method.lower(), method.lower()) if isinstance(method, str) else method
    if key not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"Unknown unlearning method {method!r}. Known methods: {known}.")
    return _REGISTRY[key]


def list_methods() -> list[MethodInfo]:
    """Every registered method with its key, classes, paper, tasks and what it needs, sorted by key."""
    _load_builtin_methods()
    infos = []
    for key in sorted(_REGISTRY):
        cls = _REGISTRY[key]
        infos.append(
            MethodInfo(
                key=key,
                trainer_class=cls,
                config_class=cls.config_class,
                paper=cls.paper,
                tasks=tuple(cls.supported_tasks),
                requires_teacher=cls.requires_teacher,
                needs_retain=cls.uses_retain,
                needs_forget=cls.uses_forget,
                aliases=tuple(sorted(a for a, k in _ALIASES.items() if k == key)),
                summary=getattr(cls, "summary", ""),
                unslu_learning_rate=cls.config_class.PRESETS.get("unslu", {}).get("learning_rate"),
                peft_support=getattr(cls, "peft_support", "adapter"),
            )
        )
    return infos


def methods_markdown() -> str:
    """The README's methods table, generated from the registry (`hf-unlearn methods --markdown`)."""
    yes_no = {True: "yes", False: "no"}
    lines = [
        "| key | method | paper | teacher | retain | forget | UnSLU preset lr | PEFT |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for info in list_methods():
        key = f"`{info.key}`" + (f" (`{'`, `'.join(info.aliases)}`)" if info.aliases else "")
        lr = f"{info.unslu_learning_rate:g}" if info.unslu_learning_rate is not None else "–"
        teacher = "original" if info.requires_teacher else "no"
        lines.append(
            f"| {key} | {info.summary} | {info.paper} | {teacher} | {yes_no[info.needs_retain]} | "
            f"{yes_no[info.needs_forget]} | {lr} | {'LoRA' if info.peft_support == 'adapter' else 'refuses'} |"
        )
    return "\n".join(lines) + "\n"
