"""Every command the README and docs/ show works as written: each Snakemake command is dry-run as typed (from a
fresh checkout's root), each `make` target exists. A documented single-cell command that Snakemake would read
otherwise (a target swallowed by --configfile or -R) fails here, not in a user's hands."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from workflow import ROOT, SNAKEMAKE, job_counts

pytestmark = pytest.mark.workflow

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CHECKOUT = (
    "Snakefile",
    "rules",
    "workflow_scripts",
    "config.yaml",
    "presets",
    "profiles",
    "slurm",
    "schemas",
    "examples",
    "src",
    "envs",
    "Makefile",
    "pyproject.toml",
)
CELLS_YAML = "experiment: {sims: [spring], models: [l1]}\ncosmology: {enabled: false}\n"  # README's cells.yaml
SINGLE_CELL = re.compile(r"results/(?:judge|symbolic|forcefit|messages|models|generalisation)/[^ ]+/seed\d+")
PLACEHOLDER_ROOT = "/path/to/symdistill"  # docs/cluster.md: running from elsewhere; here: the checkout
# Documented on purpose but not dry-runnable, each for a reason checked elsewhere or stated in the docs:
NOT_DRY_RUN = {
    "snakemake -R symbolic results/symbolic/.../result.json": "the docs' example of the -R trap (test_cluster_dag)",
    "snakemake --profile <that profile> --verbose": "the SLURM test's own command, run by tests/test_slurm.py",
    "snakemake --report report.zip": "needs a finished run: run for real by tests/test_report_workflow.py",
}
NEEDS = {"--software-deployment-method conda": "conda"}  # a documented option that needs a tool a site installs


def documented_commands() -> list[tuple[str, str]]:
    """(where, command) for every `snakemake …` / `.venv/bin/snakemake …` / `make …` line of a shell block or an
    inline code span; comments stripped."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        lines = [line for block in re.findall(r"```(?:bash|sh)\n(.*?)```", text, re.S) for line in block.splitlines()]
        lines += re.findall(r"`((?:\.venv/bin/)?snakemake [^`]+)`", text)
        for line in lines:
            words = shlex.split(line, comments=True)
            if (
                words
                and words[0] in ("snakemake", ".venv/bin/snakemake", "make")
                and " ".join(words) not in NOT_DRY_RUN
            ):
                command = shlex.join(words)  # quoting kept: --config "compare={with: PATH}" is one word
                found += [(f"{doc.relative_to(ROOT)}: {c}", c) for c in expand_braces(command)]
    return list(dict(found).items())


def expand_braces(command: str) -> list[str]:
    """The commands a shell's brace expansion makes of ``command`` (a/{b,c}/d → a/b/d, a/c/d)."""
    match = re.search(r"\{([^{}]*,[^{}]*)\}", command)
    if match is None:
        return [command]
    return [
        c
        for part in match[1].split(",")
        for c in expand_braces(command[: match.start()] + part + command[match.end() :])
    ]


COMMANDS = documented_commands()


def test_the_docs_have_commands_to_check() -> None:
    assert len([c for _, c in COMMANDS if "snakemake" in c]) >= 10 and any(c == "make test" for _, c in COMMANDS)
    assert expand_braces("a/{b,c}/{d,e}.json x") == ["a/b/d.json x", "a/b/e.json x", "a/c/d.json x", "a/c/e.json x"]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A fresh checkout's root, as a user's shell sees it (links to this one), with the README's cells.yaml."""
    root = tmp_path_factory.mktemp("checkout")
    for name in CHECKOUT:
        (root / name).symlink_to(ROOT / name)
    (root / "cells.yaml").write_text(CELLS_YAML)
    # docs/systems.md: the command before the Morse example's snakemake writes its trajectories (here, a small file)
    example = [
        sys.executable,
        "examples/morse_trajectories.py",
        "--sims",
        "3",
        "--steps",
        "5",
        "--out",
        "data/morse.parquet",
    ]
    subprocess.run(example, cwd=root, check=True, capture_output=True)
    return root


@pytest.mark.parametrize("command", [c for _, c in COMMANDS], ids=[w for w, _ in COMMANDS])
def test_a_documented_command_works_as_written(checkout: Path, command: str) -> None:
    words = shlex.split(command)
    if words[0] == "make":
        targets = [w for w in words[1:] if "=" not in w]
        result = subprocess.run(["make", "-n", *words[1:]], cwd=checkout, capture_output=True, text=True)
        assert result.returncode == 0 and targets, f"make target(s) {targets}: {result.stderr}"
        return
    for option, tool in NEEDS.items():
        if option in command and shutil.which(tool) is None:
            pytest.skip(f"{option} needs {tool}, which this machine lacks")
    # As typed, plus -n right after the program: a dry run in an empty results folder.
    words = [w.replace(PLACEHOLDER_ROOT, str(checkout)) for w in words]
    result = subprocess.run([SNAKEMAKE, "-n", *words[1:]], cwd=checkout, capture_output=True, text=True)
    out = result.stdout + result.stderr
    assert result.returncode == 0, f"{command}\nexit {result.returncode}\n{out[-3000:]}"
    if "--unlock" in words or "--lint" in words:  # neither plans jobs: exit 0 is the whole check
        return
    counts = job_counts(out)
    if SINGLE_CELL.search(command):  # one cell asked for: one cell's jobs, never the whole experiment
        assert counts.get("train", 0) <= 1 and counts.get("symbolic", 0) <= 1, f"{command} schedules {counts}"
        assert "tables" not in counts and "report" not in counts, f"{command} schedules {counts}"
