# Config validation, names, target lists and input functions; every other .smk holds rules only.
import os
import sys
from pathlib import Path

# Jobs import the package from the source tree, also inside `--software-deployment-method conda`
# environments, which carry the dependencies but not symdistill itself.
SRC = str(Path(workflow.basedir) / "src")
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p))
if SRC not in sys.path:
    sys.path.insert(0, SRC)

import symdistill.config as sd

sd.validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")

DATASETS = sd.datasets(config)
CELLS = sd.cells(config)


wildcard_constraints:
    dataset=r"[a-z0-9]+_[23]d_n\d+",
    model=r"[a-z][a-z0-9_]*",
    seed=r"\d+",
    split="train|test",


def final_targets():
    return [
        path
        for cell in CELLS
        for path in (
            f"results/models/{cell.path}/metrics.json",
            f"results/forcefit/{cell.path}.json",
            f"results/judge/{cell.path}.json",
        )
    ]


def simulation_spec(wildcards):
    return sd.simulation_params(config, wildcards.dataset)


def training_spec(wildcards):
    params = sd.model_params(config, wildcards.dataset, wildcards.model)
    return {**params, "seed": int(wildcards.seed)}


def cell_name(wildcards):
    return f"{wildcards.dataset}/{wildcards.model}/seed{wildcards.seed}"


def search_spec(wildcards):
    return {**config["symbolic"], "seed": int(wildcards.seed)}


def symbolic_runtime(wildcards):
    """Minutes for a cluster job: the search budget per component, plus start-up and evaluation."""
    sr = config["symbolic"]
    return int(sr["components"] * (2 * sr["time_limit"] + 120) / 60) + 10


def judge_spec(wildcards):
    return {**config["judge"], "seed": int(wildcards.seed)}
