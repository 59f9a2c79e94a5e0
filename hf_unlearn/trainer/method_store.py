"""Where methods are registered: defining `class XTrainer(UnlearningTrainer, method="x")` stores `XTrainer` under
`"x"` and its aliases ([`RegisteredMethod`]), and `UnlearningTrainer(method="x", ...)` returns an `XTrainer`.
`hf_unlearn.trainer.registry` lists what is stored, with the built-in methods loaded."""

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


class RegisteredMethod:
    """Registration and dispatch of [`UnlearningTrainer`] (a mixin). A subclass defined with `method="x"` (and
    optional `aliases`) is registered under `"x"`. The class that derives from this mixin directly is the
    dispatcher: instantiating it with `method="x"` (or `args.method == "x"`) returns the registered `XTrainer`; a
    method's own class refuses another method's key."""

    method_key: str | None = None

    def __init_subclass__(cls, method: str | None = None, aliases: tuple[str, ...] = (), **kwargs):
        super().__init_subclass__(**kwargs)
        if method is not None:
            register(method, cls, tuple(aliases))
            cls.method_key = method

    def __new__(cls, *args, method: str | None = None, **kwargs):
        if method is None:  # `args` may come by keyword or, as with a plain Trainer, second positionally
            method = getattr(
                kwargs["args"] if "args" in kwargs else args[1] if len(args) > 1 else None, "method", None
            )
        if RegisteredMethod in cls.__bases__:
            if method is None:
                raise ValueError(
                    f"{cls.__name__} needs method=<key> (see hf_unlearn.list_methods()), or use a "
                    "method's trainer class directly, e.g. NegGradPlusTrainer."
                )
            cls = registered_trainer_class(method)
        elif method is not None and registered_trainer_class(method) is not cls:
            raise ValueError(
                f"{cls.__name__} runs {cls.method_key!r}, not {method!r}: use UnlearningTrainer(method=...)."
            )
        return super().__new__(cls)
