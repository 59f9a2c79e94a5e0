"""Where methods are registered: defining `class XTrainer(UnlearningTrainer, method="x")` stores `XTrainer` under
`"x"` and its aliases. `hf_unlearn.registry` lists what is stored, with the built-in methods loaded."""

from __future__ import annotations

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
