"""What a cluster user relies on, pinned down with dry runs: one cell builds alone, a changed hyperparameter
reruns exactly its cells, -R placed after the target reruns one cell (placed before it, every cell), and
`snakemake --profile slurm` parses as typed and asks for a GPU for training only.

The rerun tests need real outputs and real metadata (Snakemake's params trigger compares against what the
last run recorded): they dry-run a copy of the session's real smoke run (conftest's ``smoke_run``).
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from cluster import JobBlock, job_blocks, snakemake_with_profile
from conftest import copied_run
from workflow import ROOT, SMOKE_CELLS, job_counts, snakemake

pytestmark = pytest.mark.workflow

DATASET, MODEL = "spring_2d_n4", "l1"
CELL = f"{DATASET}/{MODEL}/seed0"
SMOKE_DATASETS = {"spring_2d_n4", "r2_2d_n4"}
PIPELINE_RULES = ("simulate", "train", "messages", "forcefit", "symbolic", "judge")
HALO_RULES = ("halos_synthetic", "halos_train", "halos_messages", "halos_symbolic", "halos_evaluate", "halos_figures")
CLUSTER_RULES = (
    *PIPELINE_RULES,
    *("ood", "generalisation", "symbolic_rest", "judge_rest", "replace", "distil"),
    *HALO_RULES,
)
GPU_RULES = ("train", "halos_train")


def dry_run(workdir: Path, *args: str) -> tuple[dict[str, int], list[JobBlock]]:
    """Job counts per rule ({} when nothing is to be done) and the job blocks of ``snakemake -n ARGS``."""
    result = snakemake(workdir, "-n", *args)
    out = result.stdout + result.stderr
    counts = job_counts(out) if "Job stats" in out else {}
    return ({} if counts.get("total") == 0 else counts), job_blocks(out)


def test_one_cell_target_schedules_only_that_cells_chain(tmp_path: Path) -> None:
    counts, blocks = dry_run(tmp_path, f"results/judge/{CELL}.json")
    assert counts == {"simulate": 1, "train": 1, "messages": 1, "symbolic": 1, "judge": 1, "total": 5}, counts
    for block in blocks:
        assert block.wildcards["dataset"] == DATASET, f"{block.rule} of another dataset: {block.wildcards}"
        if block.rule != "simulate":
            assert (block.wildcards["model"], block.wildcards["seed"]) == (MODEL, "0"), (
                f"{block.rule}: {block.wildcards}"
            )


@pytest.fixture(scope="module")
def trained_smoke(smoke_run: Path, tmp_path_factory) -> Path:
    """A copy of the session's real smoke run (conftest): all its cells trained and judged, the tables built."""
    return copied_run(smoke_run, tmp_path_factory.mktemp("trained_smoke") / "run")


def test_unchanged_config_reschedules_nothing(trained_smoke: Path) -> None:
    counts, _ = dry_run(trained_smoke, "--until", "train")
    assert counts == {}, f"nothing changed, yet the dry run schedules {counts}"
    counts, blocks = dry_run(trained_smoke)
    assert counts.get("train", 0) == 0 and counts.get("simulate", 0) == 0, counts
    assert not [
        b for b in blocks if b.rule == "judge" and b.wildcards["model"] == MODEL and b.wildcards["dataset"] == DATASET
    ], f"the finished cell {CELL} is scheduled again"


def test_changed_hyperparameter_reruns_exactly_that_models_cells(trained_smoke: Path, tmp_path: Path) -> None:
    overlay = tmp_path / "l1_hidden.yaml"
    overlay.write_text(f"models:\n  {MODEL}:\n    hidden: 64\n")  # a YAML overlay: --config would pass "64" as a string
    changed = ("--configfile", str(ROOT / "config.yaml"), str(ROOT / "presets" / "smoke.yaml"), str(overlay))

    counts, blocks = dry_run(trained_smoke, *changed, "--until", "train")
    assert counts == {"train": 2, "total": 2}, f"expected the 2 {MODEL} trainings only, got {counts}"
    assert {b.wildcards["dataset"] for b in blocks} == SMOKE_DATASETS
    for block in blocks:
        assert block.wildcards["model"] == MODEL, f"{block.wildcards} rescheduled although its config is unchanged"
        assert "Params have changed since last execution" in block.reason, f"reason: {block.reason}"

    # downstream of the retrained model reruns too, although its outputs exist
    _, blocks = dry_run(trained_smoke, *changed)
    judged = [
        b for b in blocks if b.rule == "judge" and b.wildcards["model"] == MODEL and b.wildcards["dataset"] == DATASET
    ]
    assert judged and "updated by another job" in judged[0].reason, "the finished cell's judge is not redone"
    assert {(b.wildcards["dataset"], b.wildcards["model"]) for b in blocks if b.rule == "train"} == {
        (d, MODEL) for d in SMOKE_DATASETS
    }


def test_forcerun_after_the_target_rebuilds_one_cell(trained_smoke: Path) -> None:
    target = f"results/symbolic/{CELL}/result.json"
    assert dry_run(trained_smoke, target, "-R", "symbolic")[0] == {"symbolic": 1, "total": 1}
    assert dry_run(trained_smoke, "-R", "symbolic", "--", target)[0] == {"symbolic": 1, "total": 1}
    assert dry_run(trained_smoke, f"results/judge/{CELL}.json", "-R", "symbolic")[0] == {
        "symbolic": 1,
        "judge": 1,
        "total": 2,
    }
    # The argparse trap (snakemake/snakemake#3233) docs/cluster.md warns about: -R swallows the target, the run
    # falls back to `rule all` and every cell's search runs. If this fails, Snakemake fixed it: update the docs.
    swallowed, _ = dry_run(trained_smoke, "-R", "symbolic", target)
    assert swallowed["symbolic"] == SMOKE_CELLS, swallowed


def _profile_value(text: str) -> object:
    """A profile resource value as Snakemake sees it (string resources are Python expressions)."""
    return ast.literal_eval(text) if isinstance(text, str) else text


def test_slurm_profile_as_users_type_it(tmp_path: Path) -> None:
    assert (ROOT / "slurm").resolve() == (ROOT / "profiles" / "slurm").resolve(), "./slurm must link to profiles/slurm"
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert "cpus_per_task" not in profile["default-resources"], "cpus_per_task there overrides every rule's threads"
    cpu_partition = _profile_value(profile["default-resources"]["slurm_partition"])
    gpu_partition = _profile_value(profile["set-resources"]["train"]["slurm_partition"])

    result = snakemake_with_profile(tmp_path, "slurm", "-n", cwd=ROOT)
    out = result.stdout + result.stderr
    assert re.search(r"Using profiles? slurm\b", out), "the profile named `slurm` was not picked up"
    blocks = [b for b in job_blocks(out) if b.rule != "all"]
    assert {b.rule for b in blocks} >= set(PIPELINE_RULES)
    for block in blocks:
        resources = block.resources
        if block.rule in GPU_RULES:
            assert resources.get("gpu") == "1", f"{block.rule} without a GPU request: {resources}"
            assert resources.get("slurm_partition") == gpu_partition, resources
            assert int(resources["runtime"]) < 720, f"{block.rule}: a flat 720 min, not its budget's: {resources}"
        else:
            assert "gpu" not in resources and "gres" not in resources, f"{block.rule} requests a GPU: {resources}"
            assert resources.get("slurm_partition") == cpu_partition, f"{block.rule}: {resources}"


def test_profile_threads_reach_the_jobs_given_enough_cores(tmp_path: Path) -> None:
    """set-threads is what each job asks SLURM for (--cpus-per-task), but Snakemake caps threads at --cores even
    on a cluster, and profiles/default sets `cores: all` (the submit host's CPUs); docs/cluster.md says to pass
    --cores on small login nodes. With enough cores every rule gets the profile's number, the others one."""
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    wanted = profile["set-threads"]
    cores = max(wanted.values())
    out = snakemake_with_profile(tmp_path, "slurm", "-n", "--cores", str(cores), cwd=ROOT).stdout
    threads = {(b.rule, b.threads) for b in job_blocks(out) if b.rule in CLUSTER_RULES}
    assert threads == {(rule, wanted.get(rule, 1)) for rule in CLUSTER_RULES}, threads


def test_list_changes_params_is_not_to_be_trusted(trained_smoke: Path) -> None:
    """docs/cluster.md tells users to read the dry run's reasons, not ``--list-changes params``: in Snakemake
    9.27.1 it prints every output that has recorded params, changed or not (ParamsChange.__iter__ yields the
    files of unchanged outputs too). If this fails, Snakemake fixed it: update docs/cluster.md, section 6."""
    assert dry_run(trained_smoke, "--until", "train")[0] == {}, "precondition: nothing changed"
    listed = snakemake(trained_smoke, "--list-changes", "params").stdout.split()
    unchanged_but_listed = [path for path in listed if path.startswith("results/models/")]
    assert len(unchanged_but_listed) == SMOKE_CELLS, listed


# group `cell` (rules/common.smk); symbolic_rest, judge_rest, replace and distil only for framework.models' variants
CELL_STAGES = (
    "messages",
    "forcefit",
    "symbolic",
    "judge",
    "generalisation",
    "symbolic_rest",
    "judge_rest",
    "replace",
    "distil",
    "figures",
)
# localrules (rules/report.smk, rules/generalisation.smk, rules/compare.smk) and the target rule
ON_THE_SUBMIT_HOST = ("tables", "generalisation_table", "table6", "report", "provenance", "compare", "records", "all")


def cluster_jobs(out: str) -> tuple[Counter, int]:
    """What a cluster run would submit, from a dry run: ungrouped non-local jobs per rule, and group jobs."""
    blocks = job_blocks(out)
    for block in blocks:
        in_group = block.rule in CELL_STAGES
        assert (block.group == "cell") == in_group, f"{block.rule} {block.wildcards}: group {block.group}"
    alone = Counter(b.rule for b in blocks if b.group is None and b.rule not in ON_THE_SUBMIT_HOST)
    return alone, out.count("Group job cell ")


def test_each_cells_small_stages_are_one_cluster_job(tmp_path: Path) -> None:
    """The profile's group-components (cell=1) gives one SLURM job per cell for its stages after training; a site
    that sets cell=4 gets one per four cells. The paper's configuration (its five variants and pruned): 444 submissions
    become 156 (plus the cosmology experiment's 11 jobs)."""
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["group-components"] == ["cell=1"]
    alone, groups = cluster_jobs(snakemake_with_profile(tmp_path, "slurm", "-n", cwd=ROOT).stdout)
    ood = len(SMOKE_DATASETS) * 2  # presets/smoke.yaml: ood.sets [bodies8, fast]
    halos = {rule: 2 for rule in HALO_RULES} | {"halos_synthetic": 1}  # a job per split (random, ood)
    assert alone == {"simulate": len(SMOKE_DATASETS), "ood": ood, "train": SMOKE_CELLS, **halos}, alone
    assert groups == SMOKE_CELLS, groups
    packed = snakemake_with_profile(tmp_path, "slurm", "-n", "--group-components", "cell=4", cwd=ROOT).stdout
    assert cluster_jobs(packed)[1] == -(-SMOKE_CELLS // 4)

    paper = snakemake_with_profile(tmp_path, "slurm", "-n", cwd=ROOT, configs=(str(ROOT / "config.yaml"),)).stdout
    alone, groups = cluster_jobs(paper)
    assert (sum(alone.values()), groups) == (12 + 12 * 4 + 72 + 11, 72), (alone, groups)  # 4 OOD sets per dataset
    ungrouped = job_counts(paper)
    assert sum(n for rule, n in ungrouped.items() if rule in (*PIPELINE_RULES, "figures")) == 444
