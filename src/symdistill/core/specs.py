"""A rule's settings as a frozen spec: one way, by name, for every rule.

Snakemake hands a script its rule's params as plain data; each stage reads them into a frozen dataclass whose
fields are the config's keys. ``spec_from`` builds one and names every unknown or missing key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, fields
from typing import Any, TypeVar

Spec = TypeVar("Spec")


def spec_from(cls: type[Spec], values: Mapping[str, Any], where: str) -> Spec:
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
