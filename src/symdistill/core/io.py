"""Atomic outputs and provenance shared by every stage.

Every file a rule produces is written to a temporary sibling and renamed into place, so a job killed
half-way never leaves a plausible-looking output for Snakemake (or a user) to pick up.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import json
import os
import platform
import shutil
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


def read_rows(path: str | os.PathLike[str], columns: tuple[str, ...], what: str, rerun: str) -> Any:
    """A Parquet table a stage wrote (``what``: "a training history"), as a DataFrame: readable, with ``columns``
    and at least one row; anything else is one InputError naming the file and the rule that rebuilds it."""
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several kinds for a cut, missing or foreign file
        raise InputError(
            f"{path}: not a readable Parquet file ({type(err).__name__}): rebuild it with `-R {rerun}`"
        ) from None
    missing = [c for c in columns if c not in frame.columns]
    if missing or frame.empty:
        found = f"lacks the column(s) {', '.join(missing)}" if missing else "has no rows"
        raise InputError(f"{path}: {found}, not {what} ({', '.join(columns)}): rebuild it with `-R {rerun}`")
    return frame


PROVENANCE_PACKAGES = ("symdistill", "numpy", "jax", "pyarrow", "pandas", "torch", "torch-geometric", "pyoperon")


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A job killed while writing (SIGKILL, a node lost) leaves its temporary behind; Snakemake runs one writer of
    # an output at a time, so any earlier temporary of this output is such a leftover.
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp creates 0600; a finished output gets the permissions any other new file would (umask).
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if _out_of_space(err, target.parent):
            raise OSError(errno.ENOSPC, f"no space left on device while writing {target}") from err
        raise


def _out_of_space(err: BaseException, folder: Path) -> bool:
    """A write failed for want of space: said so by errno, or (torch.save: "unexpected pos …") by a full disk."""
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return True
    return isinstance(err, RuntimeError) and shutil.disk_usage(folder).free < 1 << 20


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_digest(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks: how a run names the data a model or a comparison saw."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    """A JSON file a stage wrote: valid JSON, and no NaN or ±inf, which ``write_json`` refuses to write (Python's
    reader accepts them, so a NaN test loss used to reach Table 3 as "nan")."""
    try:
        return json.loads(Path(path).read_text(), parse_constant=_refuse_constant)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    except _NonFinite as err:
        raise InputError(f"{path}: holds {err} (not JSON, and never written by a stage): the file is corrupt") from None


class _NonFinite(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NonFinite(f"a non-finite number ({name})")


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
