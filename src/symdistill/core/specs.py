"""A rule's settings as a frozen spec, one way for every rule: ``Spec.from_params``.

Snakemake hands a script its rule's params as plain data; each stage reads them into a frozen dataclass whose
fields are the config's keys. Every such spec derives from ``Spec`` and is built with ``from_params``, which names
every unknown or missing key (``spec_from``); a spec with parts that are specs themselves overrides it to read each
part the same way. A record read back from a file (a model's ``model`` and ``training``) is read so too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, fields
from typing import Any, TypeVar

S = TypeVar("S")
Self = TypeVar("Self", bound="Spec")


def spec_from(cls: type[S], values: Mapping[str, Any], where: str) -> S:
    """A frozen spec from a mapping (rule params, a file's record), naming every unknown and missing key.

    A key misspelt in the schema, in ``model_params`` or in an old file then fails here, with the keys the spec
    expects, not as a ``KeyError`` deep inside a run.
    """
    expected = {f.name: f.default is MISSING and f.default_factory is MISSING for f in fields(cls)}
    unknown = sorted(set(values) - set(expected))
    missing = sorted(name for name, required in expected.items() if required and name not in values)
    if unknown or missing:
        found = "; ".join(
            part for part in (unknown and f"unknown keys {unknown}", missing and f"missing keys {missing}") if part
        )
        raise ValueError(f"{where}: not a {cls.__name__}: {found} (expected {sorted(expected)})")
    return cls(**values)


class Spec:
    """A frozen dataclass of settings that a rule's params (or a file's record) become: ``X.from_params(params)``."""

    @classmethod
    def from_params(cls: type[Self], params: Mapping[str, Any], where: str | None = None) -> Self:
        """The spec from plain data, every key checked by name; ``where`` names the source in an error."""
        return spec_from(cls, params, where or f"{cls.__name__} params")
