# Config validation, names, target lists and input functions; every other .smk holds rules only.
import os
import subprocess
import sys
from pathlib import Path

# Jobs import the package from the source tree, also inside `--software-deployment-method conda`
# environments, which install it (editable, with the extra of their rule group) from this checkout.
SRC = str(Path(workflow.basedir) / "src")
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p))
os.environ.update(SYMDISTILL_ROOT=workflow.basedir)  # envs/*.yaml: `-e ${SYMDISTILL_ROOT}[extra]`
if SRC not in sys.path:
    sys.path.insert(0, SRC)

import symdistill.config.params as sd
from symdistill.config import jobs
from symdistill.config.validation import ood_warnings, operator_warnings, validate_config
from symdistill.core.names import Cell, carried_components, parse_dataset
from symdistill.core.vocabulary import FIGURES, HALO_FIGURES, HALO_SPLITS
from symdistill.engine.budget import SearchBudget

validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
for warning in [*operator_warnings(config), *ood_warnings(config)]:
    print(warning, file=sys.stderr)

DATASETS = sd.datasets(config)
CELLS = sd.cells(config)
LAW_CELLS = sd.law_cells(config)  # the cells with a force fit: a system given as data may have no law

# On a cluster, a cell's stages after training (messages, forcefit, symbolic, judge, figures) run as one SLURM
# job: all but the search take seconds, and each would otherwise wait in the queue on its own. Snakemake ignores
# groups on a local run. profiles/slurm's group-components packs several cells into one job (docs/cluster.md).
CELL_GROUP = "cell"


wildcard_constraints:
    dataset=r"[a-z0-9]+_[23]d_n\d+",
    model=r"[a-z][a-z0-9_]*",
    seed=r"\d+",
    split="train|test",
    shift=r"[a-z][a-z0-9_]*",


def final_targets():
    """The tables and the report: they need every cell of every stage."""
    cosmology = rules.table6.output if config["cosmology"]["enabled"] else []
    comparison = rules.compare.output if config["compare"]["with"] else []
    tables = [*rules.tables.output, *rules.generalisation_table.output, *cosmology]
    return [*tables, *rules.report.output, *rules.provenance.output, *comparison]


def of_cell(path, cell):
    """A per-cell path of the DAG contract (another rule's output, {dataset}/{model}/seed{seed}) for ``cell``."""
    return str(path).format(dataset=cell.dataset, model=cell.model, seed=cell.seed)


def cell_files(path):
    """A rule's per-cell output ``path`` for every cell, in the run's order."""
    return [of_cell(path, cell) for cell in CELLS]


def law_cell_files(path):
    """A rule's per-cell output ``path`` for every cell whose system has a law (LAW_CELLS), in the run's order."""
    return [of_cell(path, cell) for cell in LAW_CELLS]


def forcefit_of(wildcards):
    """The cell's force fit, where its system has a law (none for a system given as data without one)."""
    if not sd.has_law(config, parse_dataset(wildcards.dataset).sim):
        return {}
    cell = Cell(wildcards.dataset, wildcards.model, int(wildcards.seed))
    return {"forcefit": of_cell(rules.forcefit.output[0], cell)}


def distilled_tables():
    """The tables rule's files for the cells of systems without a law, where the run has any (else none)."""
    if len(LAW_CELLS) == len(CELLS):
        return {}
    return {f"distilled_{ext}": f"results/tables/distilled.{ext}" for ext in ("csv", "md", "html")}


def figure_files(wildcards):
    """Every cell's figures, cell by cell, in the order the figures rule lists them."""
    return [of_cell(path, c) for c in CELLS for path in rules.figures.output]


def table_settings():
    return {"paper_models": config["report"]["paper_models"], "success": config["report"]["success"]}


def git_commit(wildcards):
    """The commit the workflow runs from, marked when tracked files differ from it; "unknown" outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workflow.basedir, capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=workflow.basedir,
            capture_output=True,
            text=True,
        )
    except OSError:  # no git on this machine
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def config_files():
    """The config files of this run in the order they were applied (config.yaml, then each --configfile)."""
    return [
        os.path.relpath(f, workflow.basedir) if Path(f).is_relative_to(workflow.basedir) else str(f)
        for f in map(os.path.abspath, workflow.configfiles)
    ]


def simulation_spec(wildcards):
    return sd.simulation_params(config, wildcards.dataset)


def pair_law(wildcards):
    return sd.pair_law(config, parse_dataset(wildcards.dataset).sim)


def integration_tolerances():
    """The integrator's settings for rule hypothesis_ood, as simulate's (config simulation)."""
    return {k: config["simulation"][k] for k in ("rtol", "atol", "mxstep")}


def ood_shift(wildcards):
    return sd.ood_shift(config, wildcards.shift)


def hypothesis_shift(wildcards):
    return sd.hypothesis_shift(config, wildcards.dataset, wildcards.shift)


def trajectory_spec(wildcards):
    return sd.trajectory_params(config, wildcards.dataset)


def trajectory_file(wildcards):
    """The trajectory file of a system given as data: an input, so that a changed file rebuilds its datasets."""
    return config["systems"][parse_dataset(wildcards.dataset).sim]["trajectories"]


def ood_set_names(wildcards):
    """The out-of-distribution sets of the cell's dataset, in config order (for a system given as data, those its
    law can simulate: config.params.ood_sets)."""
    return sd.ood_sets(config, wildcards.dataset)


def ood_files(wildcards):
    """The out-of-distribution sets of the cell's dataset, in the order of ood.sets."""
    return [str(rules.ood.output[0]).format(dataset=wildcards.dataset, shift=name) for name in ood_set_names(wildcards)]


def closed_models(wildcards):
    """Where the cell's variant is closed (framework.models): its model with φe replaced and its symbolic model."""
    if not sd.closed(config, wildcards.model):
        return {}
    cell = Cell(wildcards.dataset, wildcards.model, int(wildcards.seed))
    return {"replaced": of_cell(rules.replace.output.model, cell), "symbolic": of_cell(rules.distil.output.model, cell)}


def training_spec(wildcards):
    params = sd.model_params(config, wildcards.dataset, wildcards.model)
    return {**params, "seed": int(wildcards.seed)}


def train_device(wildcards):
    return sd.training_device(config, wildcards.model)


def train_minutes(wildcards):
    """Minutes for a train job: its budget at a conservative rate (symdistill.jobs; docs/cluster.md §3)."""
    return jobs.training_minutes(config, wildcards.dataset, wildcards.model)


def train_mb(wildcards):
    return jobs.training_mb(config, wildcards.dataset)


def halo_train_minutes(wildcards):
    return jobs.halo_training_minutes(config)


def cell_name(wildcards):
    return f"{wildcards.dataset}/{wildcards.model}/seed{wildcards.seed}"


def search_spec(wildcards):
    return sd.search_params(config, wildcards.dataset, int(wildcards.seed))


def symbolic_runtime(wildcards):
    """Minutes for a cluster job: every component's search up to its hard limit, plus the front's evaluation."""
    sr = config["symbolic"]
    return SearchBudget(**sr["budget"]).cluster_minutes(sr["components"])


def rest_runtime(wildcards):
    """Minutes for a symbolic_rest job (the components beyond symbolic.components), as symbolic_runtime counts."""
    sr = config["symbolic"]
    dim = parse_dataset(wildcards.dataset).dim
    rest = carried_components(dim, config["framework"]["components"]) - sr["components"]
    return SearchBudget(**sr["budget"]).cluster_minutes(max(rest, 0))


def judge_spec(wildcards):
    return {**config["judge"], "seed": int(wildcards.seed)}


# ---------------------------------------------------------------- the cosmology experiment
COSMOLOGY = config["cosmology"]
CATALOGUE = "results/cosmology/{catalogue}.parquet"  # rule halos_synthetic's, halos_file's or halos_quijote's
HALO_CELL = "results/cosmology/{catalogue}/{halo_split}"


wildcard_constraints:
    catalogue="synthetic|quijote|file",
    halo_split="|".join(HALO_SPLITS),


def halo_cell_files(path):
    """A rule's per-split output ``path`` for each split of the configured catalogue, in cosmology.splits' order."""
    return [str(path).format(catalogue=COSMOLOGY["catalogue"], halo_split=s) for s in COSMOLOGY["splits"]]


def halo_figure_files(wildcards):
    """Each split's figures, split by split, in the order the halos_figures rule lists them."""
    return [
        str(path).format(catalogue=COSMOLOGY["catalogue"], halo_split=s)
        for s in COSMOLOGY["splits"]
        for path in rules.halos_figures.output
    ]


def halo_cell(wildcards):
    return f"{wildcards.catalogue}/{wildcards.halo_split}"


def halo_training_spec(wildcards):
    return sd.halo_training_params(config)


def halo_train_device(wildcards):
    return config["cosmology"]["training"].get("device", "auto")


def halo_search_spec(wildcards):
    return sd.halo_search_params(config)


def halo_search_runtime(wildcards):
    """Minutes for a halos_symbolic cluster job: φe's components and φv's search, each up to its hard limit."""
    spec = sd.halo_search_params(config)
    return SearchBudget(**spec["budget"]).cluster_minutes(spec["components"] + 1)


def halo_reference(wildcards):
    """For the ood split: the random split's searches, whose model the paper refits on δ ≤ cut (its OOD test)."""
    if wildcards.halo_split != "ood" or "random" not in COSMOLOGY["splits"]:
        return {}
    random = {"catalogue": wildcards.catalogue, "halo_split": "random"}
    return {
        "reference_front": str(rules.halos_symbolic.output.front).format(**random),
        "reference_result": str(rules.halos_symbolic.output.result).format(**random),
    }
