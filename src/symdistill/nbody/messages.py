"""Message tables: what φe sends along held-out edges, beside the true pair force it should encode.

One row per directed edge of a sample of test graphs: receiver (suffix 1) and sender (suffix 2) features,
Δ = receiver − sender (the notebook's dx, dy; the paper's Δx has the opposite sign), r = |Δ|, the true force
of the pair interaction on the receiver (fx, fy[, fz], from the system's potential with its softening), the
pair's interaction energy u (these two only where the system has a law: a system given as data may have none),
and every message component e0 … e{k−1}. For variational messages e* hold μ (as the notebook records) and lv*
hold log σ²; for FlatHGN e0 is the pair energy H_pair.

The file's metadata ranks the components by significance: standard deviation over the sampled edges, or
for variational messages the mean KL divergence to the prior (the paper's choice for its KL figures).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from symdistill.core.bundles import Files
from symdistill.core.io import InputError, atomic_output, check_finite
from symdistill.core.names import check_cell_identity
from symdistill.nbody.data import AXES, feature_names, has_law, read_split
from symdistill.nbody.models import Graph, Network
from symdistill.nbody.systems import pair_force, pair_potential
from symdistill.nbody.train import load_model

FORMAT = "symdistill.messages/1"
META_KEY = b"symdistill"


def edge_features(x: np.ndarray, senders: np.ndarray, receivers: np.ndarray, dim: int) -> pd.DataFrame:
    """Receiver/sender features, Δ and r for every edge of graphs ``x`` (graphs, n, f), graph by graph."""
    names = feature_names(dim)
    receiver = x[:, receivers].reshape(-1, x.shape[-1]).astype(np.float64)
    sender = x[:, senders].reshape(-1, x.shape[-1]).astype(np.float64)
    frame = pd.DataFrame({f"{c}1": receiver[:, k] for k, c in enumerate(names)})
    for k, c in enumerate(names):
        frame[f"{c}2"] = sender[:, k]
    delta = receiver[:, :dim] - sender[:, :dim]
    for k, axis in enumerate(AXES[:dim]):
        frame[f"d{axis}"] = delta[:, k]
    frame["r"] = np.linalg.norm(delta, axis=1)
    return frame


def _pair_law(law: Callable[..., jax.Array], sim: str, frame: pd.DataFrame, dim: int, n: int) -> np.ndarray:
    names = feature_names(dim)
    receiver = frame[[f"{c}1" for c in names]].to_numpy().T
    sender = frame[[f"{c}2" for c in names]].to_numpy().T
    with jax.enable_x64(True):
        return np.asarray(law(sim, jnp.asarray(receiver), jnp.asarray(sender), dim, n)).T


def true_forces(sim: str, frame: pd.DataFrame, dim: int, n: int) -> np.ndarray:
    """Force of the pair interaction on the receiver of each edge, (edges, dim), in float64."""
    return _pair_law(pair_force, sim, frame, dim, n)


def true_potentials(sim: str, frame: pd.DataFrame, dim: int, n: int) -> np.ndarray:
    """Interaction energy of each edge's pair, (edges,), in float64."""
    return _pair_law(pair_potential, sim, frame, dim, n)


@torch.no_grad()
def edge_messages(model: Network, frame: pd.DataFrame, dim: int) -> tuple[np.ndarray, np.ndarray | None]:
    """φe on each edge of ``frame``: the messages (μ for variational ones) and, if variational, log σ²."""
    names = feature_names(dim)
    device = next(model.parameters()).device
    receiver = torch.tensor(frame[[f"{c}1" for c in names]].to_numpy(), dtype=torch.float32, device=device)
    sender = torch.tensor(frame[[f"{c}2" for c in names]].to_numpy(), dtype=torch.float32, device=device)
    out = model.edge_output(receiver, sender)
    values = out.mu if out.mu is not None else out.message
    logvar = None if out.logvar is None else out.logvar.double().cpu().numpy()
    return values.double().cpu().numpy(), logvar


def significance(messages: np.ndarray, logvar: np.ndarray | None) -> tuple[str, np.ndarray]:
    """Per-component significance: std, or the mean KL divergence to N(0, 1) for variational messages."""
    if logvar is None:
        return "std", messages.std(axis=0)
    return "kl", (0.5 * (messages**2 + np.exp(logvar) - logvar - 1)).mean(axis=0)


def message_table(
    model: Network, record: dict[str, Any], x: np.ndarray, law: bool = True
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The message table of graphs ``x`` and its metadata (component ranking, system, cell); the true force and
    energy columns only where the system has a pair ``law`` (a system given as data may have none)."""
    system = record["system"]
    sim, dim, n = system["sim"], system["dim"], system["n"]
    graph = Graph.for_system(sim, n)
    frame = edge_features(x, graph.senders.numpy(), graph.receivers.numpy(), dim)
    frame.insert(0, "graph", np.repeat(np.arange(len(x)), len(graph.senders)))
    if law:
        force = true_forces(sim, frame, dim, n)
        for k, axis in enumerate(AXES[:dim]):
            frame[f"f{axis}"] = force[:, k]
        frame["u"] = true_potentials(sim, frame, dim, n)
    values, logvar = edge_messages(model, frame, dim)
    components = [f"e{k}" for k in range(values.shape[1])]
    frame = pd.concat([frame, pd.DataFrame(values, columns=components, index=frame.index)], axis=1)
    if logvar is not None:
        frame = pd.concat(
            [frame, pd.DataFrame(logvar, columns=[f"lv{k}" for k in range(logvar.shape[1])], index=frame.index)], axis=1
        )
    measure, score = significance(values, logvar)
    order = np.argsort(-score, kind="stable")
    meta = {
        "format": FORMAT,
        "cell": record["cell"],
        "system": system,
        "model": record["model"].record(),
        "message": record["model"].message_kind,
        **({} if law else {"law": False}),  # absent: the system has a law (a built-in's table is as it was)
        "significance": measure,
        "ranked_components": [components[i] for i in order],
        "component_significance": {components[i]: float(score[i]) for i in order},
    }
    return frame, meta


def write_messages(frame: pd.DataFrame, meta: dict[str, Any], path: str | Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta).encode()})
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def table_columns(meta: dict[str, Any]) -> list[str]:
    """The columns every consumer reads: edge geometry, both ends' charge and mass, the true force and energy
    (where the system has a law: ``law`` in the metadata), and every message component the metadata ranks."""
    dim = meta["system"]["dim"]
    truth = [*(f"f{a}" for a in AXES[:dim]), "u"] if meta.get("law", True) else []
    return [*(f"d{a}" for a in AXES[:dim]), "r", "m1", "m2", "q1", "q2", *truth, *meta["ranked_components"]]


def read_messages(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A message table and its metadata, checked: ours, of the cell its path names, with every column the
    stages read, all finite. Anything else raises InputError naming the file and the rule to rerun."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"{path}: not a readable Parquet file ({err}); rebuild it with `-R messages`") from None
    raw = (table.schema.metadata or {}).get(META_KEY)
    meta = json.loads(raw) if raw else {}
    if meta.get("format") != FORMAT:
        raise InputError(
            f"{path}: not a symdistill message table (expected format {FORMAT!r}); rebuild it with `-R messages`"
        )
    check_cell_identity(path, meta["cell"])
    columns = table_columns(meta)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise InputError(
            f"{path}: lacks the column(s) {', '.join(missing)} (a {meta['system']['dim']}D message "
            f"table has {', '.join(columns)}); rebuild it with `-R messages`"
        )
    frame = table.to_pandas()
    text = [c for c in columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        raise InputError(
            f"{path}: non-numeric column(s) {', '.join(text)} ({frame[text[0]].dtype}): rebuild it with `-R messages`"
        )
    check_finite(path, {c: frame[c].to_numpy() for c in columns}, "messages")
    check_sample_rows(path, frame, meta)
    return frame, meta


def check_sample_rows(path: str | Path, frame: pd.DataFrame, meta: dict[str, Any]) -> None:
    """The rows are the recorded sample's: ``graph`` numbers its graphs 0, 1, … (at most ``sample.graphs``), each
    with every edge of the system's graph, in order. A table cut or padded by hand is refused."""
    system, sample = meta["system"], meta.get("sample", {})
    edges = len(Graph.for_system(system["sim"], system["n"]).senders)
    graphs = len(frame) // edges
    expected = np.repeat(np.arange(graphs), edges)
    found = frame["graph"].to_numpy() if "graph" in frame else None
    if (
        not isinstance(sample.get("graphs"), int)
        or not 0 < graphs <= sample["graphs"]
        or len(frame) != graphs * edges
        or found is None
        or not np.array_equal(found, expected)
    ):
        raise InputError(
            f"{path}: {len(frame)} rows, not the recorded sample's: graphs 0, 1, … (at most sample.graphs = "
            f"{sample.get('graphs')}) in column 'graph', each with its {edges} edges; rebuild it with `-R messages`"
        )


def sample_graphs(n_test: int, graphs: int, seed: int) -> np.ndarray:
    """Test graphs to record, without replacement (the notebook draws 1,000 with replacement, seed 0)."""
    return np.sort(np.random.default_rng(seed).choice(n_test, size=min(graphs, n_test), replace=False))


@dataclass(frozen=True)
class MessageInputs(Files):
    """Rule ``messages``' inputs: the cell's network and the dataset's test split."""

    model: Path
    test: Path


def extract_messages(inputs: MessageInputs, out_path: str | Path, graphs: int, seed: int) -> None:
    """Rule ``messages``: the message table of ``graphs`` sampled test graphs of one trained cell."""
    model, record = load_model(inputs.model)
    test = read_split(inputs.test)
    sample = test.x[sample_graphs(len(test.x), graphs, seed)]
    frame, meta = message_table(model, record, sample, has_law(test.metadata))
    meta.update(sample={"graphs": graphs, "seed": seed, "test_file": str(inputs.test)})
    write_messages(frame, meta, out_path)
