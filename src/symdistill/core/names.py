"""The pipeline's names: datasets ``{sim}_{dim}d_n{n}``, cells ``{dataset}/{model}/seed{seed}``, and the
checks that a file holds the dataset or cell its path names.

Light on purpose (the standard library only): the Snakefile, every stage and the report read these names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Every name pattern ends in \Z, not $: Python's $ also matches before a final newline ("l1\n").
DATASET_PATTERN = re.compile(r"^(?P<sim>[a-z0-9]+)_(?P<dim>[23])d_n(?P<n>\d+)\Z")
CELL_PATTERN = re.compile(r"^(?P<dataset>[^/]+)/(?P<model>[a-z][a-z0-9_]*)/seed(?P<seed>\d+)\Z")
# Where the DAG contract's paths name a cell or a dataset: .../{dataset}/{model}/seed{seed}(.ext | /file)
# and .../data/{dataset}/{split}.parquet.
CELL_IN_PATH = re.compile(
    r"(?:^|/)(?P<stage>[a-z][a-z_]*)/(?P<cell>[a-z0-9]+_[23]d_n\d+/[a-z][a-z0-9_]*/seed\d+)(?:\.[a-z]+|/[^/]+)\Z"
)
# results/{folder}/… is written by the rule of the same name, except these
STAGE_RULES = {"models": "train", "replaced": "replace", "distilled": "distil"}
DATASET_IN_PATH = re.compile(
    r"(?:^|/)data/(?P<dataset>[a-z0-9]+_[23]d_n\d+)/(?P<split>train|test|ood/[a-z][a-z0-9_]*)\.parquet\Z"
)
IN_DISTRIBUTION = "test"  # the generalisation stage's name for the test split, beside the named shifts
SHOWN_CHARS = 200  # the most of a value's repr an error message shows
MESSAGE_CHARS = 2000  # the longest error message, whatever it holds


class ConfigError(ValueError):
    """The config asks for something the pipeline cannot do; the message names the key.

    A message is cut to MESSAGE_CHARS characters: the values it quotes are cut by ``shown``, but a list of names
    or a key can be long too (a YAML alias bomb expands to megabytes).
    """

    def __init__(self, message: str) -> None:
        if len(message) > MESSAGE_CHARS:
            message = f"{message[:MESSAGE_CHARS]}… ({len(message):,} characters)"
        super().__init__(message)


def shown(value: Any) -> str:
    """``repr(value)`` for an error message, cut to SHOWN_CHARS characters with its length."""
    return cut(repr(value))


def cut(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}… ({len(text):,} characters)"


class IdentityError(ValueError):
    """A file records another cell or dataset than its path names: copied or moved between cells."""


def check_cell_identity(path: str | Path, recorded: str) -> None:
    """A per-cell file must hold the cell its path names (the path's wildcards). Paths outside the DAG
    contract's layout name no cell and are not checked."""
    match = CELL_IN_PATH.search(Path(path).as_posix())
    if match and match["cell"] != recorded:
        rule = STAGE_RULES.get(match["stage"], match["stage"])
        raise IdentityError(
            f"{path}: holds cell {recorded}, but its path is cell {match['cell']} (a file copied "
            f"or moved between cells): rebuild it with `-R {rule}`"
        )


def check_dataset_identity(path: str | Path, dataset: str, split: str) -> None:
    """A dataset file must hold the dataset (system, dimension, bodies) and split its path names; an
    out-of-distribution set (split ``ood/NAME``) names the dataset whose model it tests."""
    match = DATASET_IN_PATH.search(Path(path).as_posix())
    recorded = f"{dataset}/{split}"
    if match and f"{match['dataset']}/{match['split']}" != recorded:
        rule = "ood" if split.startswith("ood/") else "simulate"
        raise IdentityError(
            f"{path}: holds dataset {recorded}, but its path is {match['dataset']}/{match['split']} "
            f"(a file copied or moved between datasets): rebuild it with `-R {rule}`"
        )


@dataclass(frozen=True)
class Dataset:
    sim: str
    dim: int
    n: int

    @property
    def name(self) -> str:
        return f"{self.sim}_{self.dim}d_n{self.n}"


@dataclass(frozen=True, order=True)
class Cell:
    """One cell of the paper's tables: a dataset, a model variant and a training seed."""

    dataset: str
    model: str
    seed: int

    @property
    def path(self) -> str:
        return f"{self.dataset}/{self.model}/seed{self.seed}"


def parse_dataset(name: str) -> Dataset:
    match = DATASET_PATTERN.match(name)
    if match is None:
        raise ConfigError(f"dataset name {shown(name)} is not of the form {{sim}}_{{dim}}d_n{{n}}, e.g. spring_2d_n4")
    return Dataset(match["sim"], int(match["dim"]), int(match["n"]))


def parse_cell(name: str) -> Cell:
    """The inverse of ``Cell.path``: every per-cell output records its cell under this name."""
    match = CELL_PATTERN.match(name)
    if match is None:
        raise ConfigError(
            f"cell name {shown(name)} is not of the form {{dataset}}/{{model}}/seed{{seed}}, e.g. spring_2d_n4/l1/seed0"
        )
    parse_dataset(match["dataset"])
    return Cell(match["dataset"], match["model"], int(match["seed"]))


def carried_components(dim: int, components: int | str) -> int:
    """How many of the most significant message components a closed model's symbolic φe carries
    (``framework.components``): ``dim``, the paper's reading that a bottleneck's messages are a rotation of the
    force, or a number."""
    return dim if components == "dim" else int(components)


def recorded_message_kind(record: Mapping[str, Any]) -> str:
    """What a message table's or force fit's messages encode: force, or energy (FlatHGN).

    Files written before FlatHGN existed do not say, and hold force messages.
    """
    return record.get("message", "force")
