"""`default(OptionsClass, "field")`: an option's default as the library's options object owns it, so that a command
shows and uses the same value the Python API does (the CLI never retypes one)."""
from __future__ import annotations

import dataclasses


def default(options_class, name: str):
    field = options_class.__dataclass_fields__[name]
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    raise KeyError(f"{options_class.__name__}.{name} has no default")
