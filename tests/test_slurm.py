"""The whole smoke workflow on a real SLURM cluster on localhost, through the repository's SLURM profile.

Real daemons (munge, MariaDB + slurmdbd, slurmctld, slurmd with one fake GPU; tests/slurm/*.sh), the real
snakemake-executor-plugin-slurm and real ``sbatch``: the point is to catch what only a cluster shows (a resource
the plugin translates wrongly, a GPU request that never reaches sbatch, a job that silently ran locally, status
polling that never ends). Needs root and apt (it installs Debian's slurm packages when missing); it takes about
as long as the local smoke run plus ~6 s of Python start-up per SLURM job (docs/cluster.md has the numbers).
"""

from __future__ import annotations

import fcntl
import math
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cluster import SMOKE_CONFIGS, job_blocks, snakemake_with_profile
from workflow import ROOT, job_counts

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

SCRIPTS = ROOT / "tests" / "slurm"
LOCK = Path("/run/symdistill-local-slurm.lock")  # one test session at a time owns the local cluster
PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
PARTITION = "debug"  # the only partition of the local cluster (setup-local-slurm.sh)
FAKE_GPU_TYPE = "fake"  # gres.conf Type= of the fake GPU; what a site puts in gpu_model
SMOKE_MEM_MB = 1500  # a smoke job peaks at ~1.1 GB (symbolic); see site_profile()
MAX_THREADS = 1  # see slurm_run()
# The rules that do the work; each of their jobs must go through sbatch. (Aggregations such as `all`, or the
# report rules declared `localrules`, may run on the submit host.)
PIPELINE_RULES = ("simulate", "ood", "train", "messages", "forcefit", "symbolic", "judge", "generalisation")
GPU_RULES = ("train",)
# group `cell` (rules/common.smk); a closed variant's cells (config.yaml's framework.models) also run CLOSED_STAGES
CELL_STAGES = ("messages", "forcefit", "symbolic", "judge", "generalisation", "figures")
CLOSED_STAGES = ("symbolic_rest", "judge_rest", "replace", "distil")
CLOSED_MODELS = ("bottleneck", "l1")


def cell_stages(cell: str) -> tuple[str, ...]:
    """The group members of one cell."""
    return CELL_STAGES + (CLOSED_STAGES if cell.split("/")[1] in CLOSED_MODELS else ())


CELLS_PER_JOB = 2  # the site's group-components here (site_profile): the 2 cells share 1 SLURM job
# one cell of each group shape: a plain one and a closed one (its group adds CLOSED_STAGES)
SLURM_MODELS = ("standard", "l1")


@dataclass(frozen=True)
class LocalCluster:
    """What the test needs to know about the cluster it started."""

    gpu_nodes: frozenset[str]  # nodes that advertise a gres/gpu


@dataclass(frozen=True)
class Submission:
    """One SLURM job of the run: Snakemake's job id and rule (a group job: the group's name, ``group`` set), the
    sbatch command line it used, SLURM's job id."""

    jobid: str
    slurm_id: str
    rule: str
    wildcards: str
    sbatch: str
    group: bool = False


@dataclass(frozen=True)
class AccountingRecord:
    """``sacct`` for one job allocation."""

    state: str
    alloc_tres: str
    nodes: str


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


def _skip_reason() -> str | None:
    """Why SLURM cannot be set up here (None: it can). Everything else that goes wrong is a failure."""
    if os.geteuid() != 0:
        return "needs root: tests/slurm/setup-local-slurm.sh installs packages and starts SLURM daemons"
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        return "needs apt-get (Debian/Ubuntu) to install slurm, or slurm already installed"
    return None


@contextmanager
def cluster_lock() -> Iterator[bool]:
    """Hold LOCK while this session owns the local cluster; yields False when another session holds it.

    The cluster is machine-wide (daemons, /etc/slurm, job ids), and setup-local-slurm.sh cleans up whatever an
    earlier run left behind; two pytest sessions on one machine would tear down each other's cluster mid-run.
    """
    with open(LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            yield False
            return
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def local_cluster() -> Iterator[LocalCluster]:
    """Start a one-node SLURM for this module and always stop what was started, even when a test fails."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    with cluster_lock() as owned:
        if not owned:
            pytest.skip(f"another test session (pid {LOCK.read_text().strip()}) is using the local SLURM cluster")
        try:
            setup = _run(["bash", str(SCRIPTS / "setup-local-slurm.sh")], timeout=600)
            if setup.returncode == 3:
                pytest.skip(f"this machine has its own SLURM; the test will not reconfigure it: {setup.stderr.strip()}")
            assert setup.returncode == 0, (
                f"local SLURM setup failed (exit {setup.returncode}):\n{setup.stdout}\n{setup.stderr}"
            )
            nodes = _run(["sinfo", "-h", "-N", "-o", "%N|%G"], check=True).stdout.split()
            gpu_nodes = frozenset(node for node, gres in (line.split("|") for line in nodes) if "gpu" in gres)
            assert gpu_nodes, f"the local cluster advertises no GPU:\n{nodes}"
            yield LocalCluster(gpu_nodes=gpu_nodes)
        finally:
            stop = _run(["bash", str(SCRIPTS / "stop-local-slurm.sh")], timeout=120)
            print(stop.stdout, stop.stderr)


def site_profile(dest: Path, rules: list[str]) -> Path:
    """profiles/slurm with its site block filled in for the local cluster, as a site would fill it in.

    Only site values change: every partition becomes the local one, a GPU model becomes the fake GPU's type, the
    account goes (the local cluster has none) and CELLS_PER_JOB cells share a job (group-components). Everything
    else, the GPU request included, is the profile
    as committed. Memory is capped at SMOKE_MEM_MB per job: the rules ask for paper-scale memory (train 16 GB),
    which a 7 GB CI runner's node cannot offer (sbatch rejects it at once), and memory is not enforced here
    (no cgroups), so the value only decides how many jobs SLURM packs onto the node.
    """
    profile = yaml.safe_load(PROFILE.read_text())
    defaults = profile["default-resources"]
    defaults["slurm_partition"] = repr(PARTITION)
    defaults.pop("slurm_account", None)
    defaults["mem_mb"] = SMOKE_MEM_MB
    per_rule = profile.setdefault("set-resources", {})
    for resources in per_rule.values():
        if "slurm_partition" in resources:
            resources["slurm_partition"] = repr(PARTITION)
        if "gpu_model" in resources:
            resources["gpu_model"] = repr(FAKE_GPU_TYPE)
        resources.pop("slurm_account", None)
    for rule in rules:
        per_rule.setdefault(rule, {})["mem_mb"] = SMOKE_MEM_MB
    profile["group-components"] = [f"cell={CELLS_PER_JOB}"]
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return dest


def submissions(log: str) -> list[Submission]:
    """Every job the run handed to sbatch, from ``--verbose`` output.

    "Job N has been submitted with SLURM jobid M (log: <logdir>/rule_R/<wildcards>/M.log)" gives both ids and
    the rule; the "sbatch call:" line with the same ``--comment rule_R[_wildcards_W]`` gives the command line.
    A group job is "Job <uuid> ... (log: <logdir>/group_G/M.log)", G the group's name and member rules
    (``cell_figures_forcefit_…``; Snakemake cuts a long one to ``cell_distil_…_judge_...``, dots included), and
    its comment ``rule_G``.
    """
    calls = {}
    for call in re.findall(r"sbatch call: (sbatch .*)", log):
        comment = re.search(r"--comment (\S+)", call)[1]
        calls.setdefault(comment, []).append(call)
    found = []
    for jobid, slurm_id, kind, rule, wildcards in re.findall(
        r"Job (\S+) has been submitted with SLURM jobid (\d+) "
        r"\(log: \S*/(rule|group)_([\w.]+?)/(?:([^/\s]+)/)?\d+\.log\)",
        log,
    ):
        comment = f"rule_{rule}_wildcards_{wildcards}" if wildcards else f"rule_{rule}"
        assert calls.get(comment), f"no 'sbatch call' line for SLURM job {slurm_id} ({comment})"
        found.append(Submission(jobid, slurm_id, rule, wildcards, calls[comment].pop(0), group=kind == "group"))
    return found


def group_members(workdir: Path, subs: list[Submission]) -> dict[str, list[tuple[str, str]]]:
    """(rule, cell) of every job each group submission ran, from its SLURM log (kept: --slurm-keep-successful-logs).

    The log holds the group's plan (its members indented under "Group job cell") and then what the job's own
    Snakemake ran, each member as a ``localrule`` block: those are counted."""
    members = {}
    for sub in subs:
        if sub.group:
            (path,) = workdir.glob(f".snakemake/slurm_logs/group_{sub.rule}/**/{sub.slurm_id}.log")
            members[sub.slurm_id] = [
                (block.rule, "{dataset}/{model}/seed{seed}".format(**block.wildcards))
                for block in job_blocks(path.read_text())
                if block.local and block.rule != "all"
            ]
    return members


def accounting(subs: list[Submission], wait_s: float = 30) -> dict[str, AccountingRecord]:
    """sacct records of this run's jobs, once slurmdbd has all of them.

    Selected by SLURM job name, which the plugin sets to the run's UUID: slurmdbd keeps the jobs of earlier
    test runs, and job ids are not guaranteed unique across cold starts of slurmctld.
    """
    names = {re.search(r"--job-name (\S+)", sub.sbatch)[1] for sub in subs}
    assert len(names) == 1, f"one run should use one SLURM job name (its UUID), got {names}"
    cmd = [
        "sacct",
        "-X",
        "--parsable2",
        "--noheader",
        "--name",
        names.pop(),
        "--starttime",
        "now-1days",
        "--format",
        "JobIDRaw,State,AllocTRES,NodeList",
    ]
    expected = len({sub.slurm_id for sub in subs})
    deadline = time.monotonic() + wait_s
    while True:
        lines = _run(cmd, check=True).stdout.splitlines()
        records = {}
        for line in lines:
            job_id, state, tres, nodes = line.split("|")
            records[job_id] = AccountingRecord(state, tres, nodes)
        if len(records) >= expected or time.monotonic() > deadline:
            return records
        time.sleep(1)


@pytest.fixture(scope="module")
def slurm_run(local_cluster: LocalCluster, tmp_path_factory) -> tuple[str, Path, dict[str, int], float]:
    """The smoke preset's whole DAG (`rule all`) through `snakemake --profile <site profile>` on the cluster,
    for one plain and one closed model (the other architectures ask the cluster for nothing new, and the local
    smoke run trains them).

    Returns the run's log, its working directory, the dry run's job counts and the run's wall time.
    CI-only overrides: the first status check after 2 s instead of 40 s, a short latency wait (one machine, no
    shared-FS lag) and one thread per job (MAX_THREADS), so that two jobs share the 2-CPU node and the run takes
    about half as long; the profile's thread counts are checked by tests/test_cluster_dag.py.
    """
    workdir = tmp_path_factory.mktemp("slurm_smoke")
    overlay = workdir / "cluster_cells.yaml"
    # One system, two cells (spring: standard and the closed l1; 1 dataset, 1 OOD set): every kind of job and both
    # group shapes once, in 5 SLURM jobs (a second system, OOD set or pair of cells only repeats them). The cosmology
    # branch is left out: its jobs ask SLURM for what train and the CPU stages ask (checked by the profile's dry
    # runs in tests/test_cluster_dag.py).
    overlay.write_text(
        yaml.safe_dump(
            {
                "experiment": {"sims": ["spring"], "models": list(SLURM_MODELS)},
                "ood": {"sets": ["bodies8"]},
                # the local GPU is fake (gres only): torch sees none, and `auto` would stop each train job that
                # SLURM gave it with "SLURM gave this job a GPU (SLURM_JOB_GPUS=0), but torch … cannot use CUDA"
                "training": {"device": "cpu", "epochs": 1},
                # what runs inside the jobs is the local smoke run's (tests/test_workflow.py): here the work only
                # has to be small, the jobs and their routing are what is checked
                "symbolic": {"budget": {"generations": 5, "time_limit": 60}, "population_size": 50},
                "framework": {"training": {"epochs": 1}},
                "cosmology": {"enabled": False},
            }
        )
    )
    configs = (*SMOKE_CONFIGS, str(overlay))
    counts = job_counts(snakemake_with_profile(workdir, PROFILE.parent, "-n", configs=configs).stdout)
    rules = [rule for rule in counts if rule in PIPELINE_RULES + CELL_STAGES + CLOSED_STAGES]
    profile = site_profile(tmp_path_factory.mktemp("site_profile"), rules)
    started = time.monotonic()
    result = snakemake_with_profile(
        workdir,
        profile,
        "--verbose",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--max-threads",
        str(MAX_THREADS),
        "--latency-wait",
        "5",
        "--slurm-keep-successful-logs",
        check=False,
        timeout=1800,
        configs=configs,
    )
    wall = time.monotonic() - started
    log = result.stdout + result.stderr
    if result.returncode != 0:
        slurm_logs = "\n".join(
            f"== {p}\n{p.read_text()[-2000:]}" for p in workdir.glob(".snakemake/slurm_logs/**/*.log")
        )
        ctld = Path("/var/log/slurm/slurmctld.log")
        pytest.fail(
            f"snakemake --profile slurm failed (exit {result.returncode}) after {wall:.0f} s:\n{log[-10000:]}\n"
            f"{slurm_logs[-6000:]}\n== slurmctld.log\n{ctld.read_text()[-3000:] if ctld.exists() else ''}"
        )
    print(f"SLURM smoke run: {sum(counts.values()) - counts.get('total', 0)} jobs in {wall:.0f} s")
    return log, workdir, counts, wall


def test_every_pipeline_job_went_through_sbatch_and_completed(slurm_run) -> None:
    log, workdir, counts, _ = slurm_run
    subs = submissions(log)
    local = Counter(block.rule for block in job_blocks(log) if block.local)
    submitted = Counter(sub.rule for sub in subs if not sub.group)
    dag = {rule: n for rule, n in counts.items() if rule != "total"}
    for rule, n in dag.items():
        if rule not in CELL_STAGES + CLOSED_STAGES:
            assert submitted[rule] + local[rule] == n, (
                f"rule {rule}: the DAG has {n} jobs, {submitted[rule]} went through sbatch, {local[rule]} ran locally"
            )
    for rule in PIPELINE_RULES:
        assert local[rule] == 0, f"{local[rule]} {rule} jobs ran on the submit host instead of through sbatch"
    for rule in ("simulate", "ood", "train"):
        assert submitted[rule] == dag[rule] > 0, f"rule {rule}: {submitted[rule]} of {dag.get(rule)} jobs submitted"
    records = accounting(subs)
    cells = dag["messages"]
    expected = dag["simulate"] + dag["ood"] + dag["train"] + math.ceil(cells / CELLS_PER_JOB)
    assert len(records) == expected, (
        f"{len(records)} SLURM jobs in sacct, expected {expected}: one per dataset, OOD set and training, and one per "
        f"{CELLS_PER_JOB} cells for their {', '.join(CELL_STAGES)} (docs/cluster.md, section 8)"
    )
    assert set(records) == {sub.slurm_id for sub in subs}, (
        f"sacct and Snakemake disagree on the jobs: sacct {sorted(records)}, "
        f"snakemake {sorted(s.slurm_id for s in subs)}"
    )
    failed = {job_id: r.state for job_id, r in records.items() if r.state != "COMPLETED"}
    assert not failed, f"jobs not COMPLETED in sacct (each job should run exactly once): {failed}"

    after = snakemake_with_profile(
        workdir,
        "none",
        "-n",
        "--workflow-profile",
        "none",
        configs=(*SMOKE_CONFIGS, str(workdir / "cluster_cells.yaml")),
    )
    assert "Nothing to be done" in after.stdout + after.stderr, (
        f"after the SLURM run the DAG is not complete:\n{after.stdout[-3000:]}"
    )
    # every member of every group ran once, inside its group's job, and left its own log and benchmark
    members = group_members(workdir, subs)
    ran = Counter(member for jobs in members.values() for member in jobs)
    cell_names = sorted({cell for _, cell in ran})
    assert len(cell_names) == cells and set(ran) == {(r, c) for c in cell_names for r in cell_stages(c)}, ran
    assert set(ran.values()) == {1}, f"a grouped job ran twice: {[m for m, n in ran.items() if n > 1]}"
    for slurm_id, jobs in members.items():
        in_job = {cell for _, cell in jobs}
        assert len(in_job) <= CELLS_PER_JOB and len(jobs) == sum(len(cell_stages(c)) for c in in_job), (slurm_id, jobs)
    for rule, cell in ran:
        for path in (f"results/logs/{rule}/{cell}.log", f"results/benchmarks/{rule}/{cell}.tsv"):
            assert (workdir / path).is_file(), f"{path}: missing after its group job ran"

    for cell in ("spring_2d_n4/l1/seed0", "spring_2d_n4/standard/seed0"):
        for path in (
            f"results/models/{cell}/metrics.json",
            f"results/symbolic/{cell}/result.json",
            f"results/judge/{cell}.json",
        ):
            assert (workdir / path).stat().st_size > 0, f"{path} is empty"


def test_only_train_jobs_request_the_gpu_and_run_on_the_gpu_node(slurm_run, local_cluster: LocalCluster) -> None:
    log, _, _, _ = slurm_run
    subs = submissions(log)
    records = accounting(subs)
    profile = yaml.safe_load(PROFILE.read_text())
    gpu_flag = f"--gpus={FAKE_GPU_TYPE}:1" if "gpu_model" in profile["set-resources"]["train"] else "--gpus=1"
    for sub in subs:
        record = records[sub.slurm_id]
        gpu_args = re.findall(r"--(?:gpus|gres)=\S+", sub.sbatch)
        if sub.rule in GPU_RULES:
            assert gpu_args == [gpu_flag], (
                f"{sub.rule} {sub.wildcards}: GPU arguments {gpu_args}, expected [{gpu_flag}]"
            )
            assert "gres/gpu=1" in record.alloc_tres, (
                f"{sub.rule} {sub.wildcards}: no GPU allocated: {record.alloc_tres}"
            )
            assert record.nodes in local_cluster.gpu_nodes, (
                f"{sub.rule} {sub.wildcards} ran on {record.nodes!r}, "
                f"not on a GPU node {sorted(local_cluster.gpu_nodes)}"
            )
        else:
            assert not gpu_args, f"{sub.rule} {sub.wildcards} asked for a GPU: {gpu_args}"
            assert "gres/gpu" not in record.alloc_tres, f"{sub.rule} {sub.wildcards} got a GPU: {record.alloc_tres}"


def test_sbatch_arguments_follow_the_profile(slurm_run) -> None:
    log, _, _, _ = slurm_run
    profile = yaml.safe_load(PROFILE.read_text())
    threads = {block.fields["jobid"]: block.threads for block in job_blocks(log) if not block.local}
    cores = len(os.sched_getaffinity(0))  # profiles/default's `cores: all` on the submit host
    for sub in submissions(log):
        where = f"{sub.rule} {sub.wildcards}: {sub.sbatch[:400]}"
        assert f" -p {PARTITION} " in sub.sbatch, f"partition missing: {where}"
        assert re.search(r" -t \d+ ", sub.sbatch) and re.search(r" --mem \d+ ", sub.sbatch), f"no runtime/mem: {where}"
        if profile.get("slurm-requeue"):
            assert " --requeue" in sub.sbatch, f"the profile sets slurm-requeue, sbatch lacks --requeue: {where}"
        # Snakemake's threads must become the job's CPUs (a cpus_per_task in default-resources would not). A group
        # job's: its widest level, each cell's forcefit beside its search, stacked to fit the submit host's cores.
        wanted = min(cores, CELLS_PER_JOB * 2 * MAX_THREADS) if sub.group else threads[sub.jobid]
        assert f"--cpus-per-task={wanted}" in sub.sbatch, f"threads {wanted}: {where}"
