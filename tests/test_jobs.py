"""Cluster jobs sized to their work (issue 36): the training rules' minutes and memory from budget and data."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import ROOT

from symdistill.config import jobs
from symdistill.config.validation import validate_config


@pytest.fixture(scope="module")
def paper() -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    validate_config(config, ROOT / "schemas" / "config.schema.yaml")
    return config


def test_flops_per_graph_is_the_benchmarks_matmul_count(paper: dict) -> None:
    """docs/benchmarks.md: 20.4 MFLOP per graph (forward and backward) for spring 2D, n = 4, hidden 300, msg 100."""
    model = {"hidden": 300, "msg_dim": 100}
    assert jobs.flops_per_graph(model, 2, 4) == pytest.approx(20.4e6, rel=0.01)


def test_a_train_job_asks_for_its_budgets_time_not_a_flat_720_minutes(paper: dict) -> None:
    """Every cell asked for 720 minutes and 16 GB, whatever its budget (long queue waits for a job of minutes)."""
    assert jobs.training_minutes(paper, "spring_2d_n4", "standard") == 133
    assert jobs.training_minutes(paper, "r2_3d_n8", "standard") == 505
    assert jobs.training_mb(paper, "spring_2d_n4") == 3640
    smaller = copy.deepcopy(paper)
    smaller["training"]["epochs"] = 3
    assert jobs.training_minutes(smaller, "spring_2d_n4", "standard") == 10 + 13  # a tenth of the work
    assert jobs.halo_training_minutes(paper) == 432
