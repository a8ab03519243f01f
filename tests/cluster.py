"""Helpers for the cluster tests: Snakemake run *with* a profile, and the per-job blocks of its output.

tests/workflow.py runs Snakemake with ``--profile none`` on purpose (no profile may leak into those tests);
the cluster tests need the opposite: the real profiles, picked up the way a user's command line picks them up.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from workflow import ROOT, SNAKEMAKE

SMOKE_CONFIGS = (str(ROOT / "config.yaml"), str(ROOT / "presets" / "smoke.yaml"))


def snakemake_with_profile(
    workdir: Path,
    profile: str | Path,
    *args: str,
    cwd: Path | None = None,
    check: bool = True,
    timeout: float | None = None,
    configs: tuple[str, ...] = SMOKE_CONFIGS,
) -> subprocess.CompletedProcess:
    """``snakemake --profile PROFILE`` on the repo's Snakefile and the smoke preset (or ``configs``), in ``workdir``.

    ``profile`` is passed exactly as given (a name such as ``slurm`` is resolved by Snakemake against ``cwd``,
    the way a user's shell would). The workflow profile (profiles/default) is *not* switched off: a user's
    cluster run gets it too, so the tests must as well.
    """
    cmd = [
        SNAKEMAKE,
        "--profile",
        str(profile),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        *configs,
        *args,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd or workdir, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)}\nexit {result.returncode}\n{result.stdout[-8000:]}\n{result.stderr[-8000:]}"
        )
    return result


@dataclass
class JobBlock:
    """One job as Snakemake prints it (``rule train:`` followed by indented ``key: value`` lines).

    A member of a group job is printed indented under a ``Group job NAME`` line: ``group`` is that NAME.
    """

    rule: str
    local: bool
    group: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def wildcards(self) -> dict[str, str]:
        return _pairs(self.fields.get("wildcards", ""))

    @property
    def resources(self) -> dict[str, str]:
        return _pairs(self.fields.get("resources", ""))

    @property
    def threads(self) -> int:
        return int(self.fields.get("threads", "1"))

    @property
    def reason(self) -> str:
        return self.fields.get("reason", "")


_GROUP = re.compile(r"^(?:\[[^]]*\] )?Group job (\S+) \(jobs in lexicogr\. order\):$")
_HEADER = re.compile(r"^(    )?(local)?(?:rule|checkpoint) (\w+):$")
_FIELD = re.compile(r"^    (    )?(\w[\w ]*): (.*)$")


def job_blocks(output: str) -> list[JobBlock]:
    """Every job block in Snakemake's log (dry run or real run), in order of appearance, group members too."""
    blocks: list[JobBlock] = []
    current: JobBlock | None = None
    group: str | None = None
    for line in output.splitlines():
        grouped = _GROUP.match(line)
        if grouped:
            group, current = grouped[1], None
            continue
        header = _HEADER.match(line)
        if header:
            member = bool(header[1])
            group = group if member else None
            current = JobBlock(rule=header[3], local=bool(header[2]), group=group if member else None)
            blocks.append(current)
            continue
        item = _FIELD.match(line) if current else None
        if item and bool(item[1]) == (current.group is not None):
            current.fields[item[2]] = item[3]
        elif line.strip() and not line.startswith("    ["):  # a member's timestamp line precedes its header
            current = None
    return blocks


def _pairs(text: str) -> dict[str, str]:
    """``a=1, b=x`` → {"a": "1", "b": "x"} (the format of the wildcards: and resources: lines)."""
    return dict(part.split("=", 1) for part in text.split(", ") if "=" in part)
