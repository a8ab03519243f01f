"""Atomic outputs and provenance shared by every stage.

Every file a rule produces is written to a temporary sibling and renamed into place, so a job killed
half-way never leaves a plausible-looking output for Snakemake (or a user) to pick up.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np


class InputError(ValueError):
    """An input file is not what the stage that writes it writes; the message names the file and what to rerun."""


def read_provenance(path: Path, what: str, file_format: str, error: type[InputError]) -> dict[str, Any]:
    """The provenance a pipeline-written Parquet file carries under the schema key ``symdistill``, read from its
    schema alone, checked to be ``file_format``; ``error`` names the file and says which of these it is not (a
    readable Parquet file, one of ours, of this format). ``what`` names the kind: "dataset", "halo catalogue"."""
    import pyarrow as pa  # not at import time: io is imported by every stage, the search's child process included
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise error(f"{path}: not a readable Parquet file (truncated or not Parquet): {err}") from None
    raw = (schema.metadata or {}).get(b"symdistill")
    if raw is None:
        raise error(f"{path}: not a symdistill {what} (no 'symdistill' key in the Parquet metadata)")
    meta = json.loads(raw)
    if meta.get("format") != file_format:
        raise error(f"{path}: {what} format {meta.get('format')!r}, expected {file_format!r}")
    return meta


def write_provenance(
    path: str | os.PathLike[str], frame: Any, meta: dict[str, Any], compression: str = "snappy"
) -> None:
    """``frame`` (a DataFrame) as Parquet with ``meta`` under the schema key ``symdistill``, written atomically: the
    file :func:`read_provenance` reads."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({b"symdistill": json.dumps(meta, sort_keys=True).encode()})
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp, compression=compression)


PROVENANCE_PACKAGES = ("symdistill", "numpy", "jax", "pyarrow", "pandas", "torch", "torch-geometric", "pyoperon")


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp creates 0600; a finished output gets the permissions any other new file would (umask).
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """``obj`` as JSON, atomically. NaN and ±inf are refused, naming the key: they are not JSON, and a stage that
    produced one has a bug or a bad input that must not pass for a result."""
    try:
        text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default, allow_nan=False)
    except ValueError:
        raise ValueError(
            f"{path}: refusing to write non-finite numbers (NaN or inf) at "
            f"{', '.join(_non_finite(obj)) or 'an unknown key'}"
        ) from None
    with atomic_output(path) as tmp:
        tmp.write_text(text + "\n")


def _non_finite(obj: Any, where: str = "") -> list[str]:
    """The keys (dotted, with [i] for list items) of every NaN or ±inf in ``obj``."""
    if hasattr(obj, "tolist") and not isinstance(obj, str):
        obj = obj.tolist()
    if isinstance(obj, dict):
        return [k for key, value in obj.items() for k in _non_finite(value, f"{where}.{key}" if where else str(key))]
    if isinstance(obj, list | tuple):
        return [k for i, value in enumerate(obj) for k in _non_finite(value, f"{where}[{i}]")]
    if isinstance(obj, float) and not np.isfinite(obj):
        return [where or "(top level)"]
    return []


def read_json(path: str | os.PathLike[str]) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays reach JSON through their Python equivalents.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def package_versions(names: tuple[str, ...] = PROVENANCE_PACKAGES) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def check_finite(path: str | os.PathLike[str], columns: dict[str, np.ndarray], rerun: str) -> None:
    """Raise naming the file, each column with NaN or ±inf and how many, and the rule that rebuilds it."""
    bad = {name: int(np.count_nonzero(~np.isfinite(values))) for name, values in columns.items()}
    bad = {name: count for name, count in bad.items() if count}
    if bad:
        where = ", ".join(f"{name} ({count} of {len(columns[name])})" for name, count in bad.items())
        raise InputError(
            f"{path}: non-finite values (NaN or inf) in {where}: the file is corrupt or was made "
            f"from diverged inputs; rebuild it with `-R {rerun}`"
        )
