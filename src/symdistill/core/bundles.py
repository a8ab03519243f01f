"""A rule's files as one named bundle: ``X.of(snakemake.input)`` or ``X.of(snakemake.output)``.

A stage receives its files by the names its rule gives them, not as a long list of positional paths that a
script must keep in the rule's order. A bundle is a frozen dataclass deriving from ``Files`` whose fields are the
rule's names for its input or output files; ``of`` reads them from Snakemake's named lists (or anything with
those attributes). A field with a default is optional: None where the rule does not name it (an input that
only some cells have). A field typed ``list[Path]`` holds several files (an input function's list), none where
the rule names none.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, TypeVar

Self = TypeVar("Self", bound="Files")


class Files:
    """A frozen dataclass of a stage's files, named as its rule names them; built from strings or paths, it holds
    paths (a list of them where the field is a list)."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, str):
                object.__setattr__(self, field.name, Path(value))
            elif isinstance(value, list | tuple):
                object.__setattr__(self, field.name, [Path(v) for v in value])

    @classmethod
    def of(cls: type[Self], named: Any) -> Self:
        """The bundle from a rule's named inputs or outputs; a required name the rule lacks raises, naming it."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            value = getattr(named, field.name, None)
            if str(field.type).startswith("list"):  # several files: none where the rule names none
                values[field.name] = [Path(v) for v in ([value] if isinstance(value, str | Path) else value or ())]
            elif value:
                values[field.name] = Path(value)
            elif field.default is not MISSING:
                values[field.name] = field.default
            else:
                raise KeyError(f"{cls.__name__}: the rule names no file {field.name!r}")
        return cls(**values)
