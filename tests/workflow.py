"""Run the real Snakemake CLI on this repository's workflow in a scratch working directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
# Twice the CI machine's 2 CPUs. A smoke job is mostly start-up (torch, PyG and JAX imports: ~5 s of a 10–15 s
# job) and the searches ask for 2 threads they barely use at smoke size (0.8 CPU): at --cores 2 one job ran alone
# for 570 of the smoke run's 1000 s. A rule's threads are unchanged (min(threads, cores)), so are its outputs.
JOB_SLOTS = 4
# presets/smoke.yaml's cells: 2 datasets × (standard, bottleneck, l1, kl) + pm, cust, flathgn and pruned on spring
SMOKE_CELLS = 12


def snakemake(
    workdir: Path, *args: str, preset: str | None = "smoke", check: bool = True
) -> subprocess.CompletedProcess:
    """``snakemake`` on the repo's Snakefile in ``workdir``; no profile leaks in from the environment."""
    configs = [str(ROOT / "config.yaml")] + ([str(ROOT / "presets" / f"{preset}.yaml")] if preset else [])
    cmd = [
        SNAKEMAKE,
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--profile",
        "none",
        "--workflow-profile",
        "none",
        "--cores",
        str(JOB_SLOTS),
        "--configfile",
        *configs,
        *args,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)}\nexit {result.returncode}\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
        )
    return result


def job_counts(dryrun_output: str) -> dict[str, int]:
    """Rule → jobs from the 'Job stats' table of a dry run."""
    lines = dryrun_output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Job stats"))
    counts = {}
    for line in lines[start + 3 :]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts
