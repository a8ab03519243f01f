"""Logging for workflow scripts: everything, tracebacks included, goes to the rule's log file."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def logging_to(path: str | Path) -> Iterator[logging.Logger]:
    """Send the package's log records and the job's stderr to ``path``; log an exception before re-raising it."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", buffering=1) as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        stderr, sys.stderr = sys.stderr, stream
        try:
            yield logging.getLogger("symdistill")
        except BaseException:
            stream.write(traceback.format_exc())
            raise
        finally:
            sys.stderr = stderr
            root.removeHandler(handler)
