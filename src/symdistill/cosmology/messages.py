"""Rule ``halos_messages``: the cosmology network's messages, as tables the searches and the judge read.

φe on a seeded sample of edges (every component, ranked by std: the paper finds one that matters, std ~1e-2
against < 1e-8), and per halo the sum of the most significant components over *all* its incoming edges, s0 …,
with the network's own δ̂. Half the sampled edges are marked ``fit`` (what the search sees), the rest are held out
for the judge; likewise half the halos.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from symdistill.core.bundles import Files
from symdistill.core.io import InputError, read_provenance, write_provenance
from symdistill.core.specs import Spec
from symdistill.cosmology.catalogue import EDGE_INPUTS, NODE_INPUTS, edge_features, read_written_catalogue
from symdistill.cosmology.graph import HaloGraph

log = logging.getLogger(__name__)

MESSAGES_FORMAT = "symdistill.halo_messages/1"
NODES_FORMAT = "symdistill.halo_nodes/1"
NODE_TARGET = "gn"  # the nodes table's column holding the network's δ̂: φv's fitting target


class HaloTableError(InputError):
    """A halo message or node table is missing, foreign, or of another cell."""


@dataclass(frozen=True)
class HaloMessagesSpec(Spec):
    """Config ``cosmology.messages``: how many edges are sampled, and how many top components are summed per halo."""

    edges: int
    components: int
    seed: int


def ranked_components(messages: np.ndarray) -> list[int]:
    """Component indices by decreasing std over the sampled edges (the paper's significance)."""
    return [int(k) for k in np.argsort(-messages.std(axis=0), kind="stable")]


@dataclass(frozen=True)
class TrainedNetwork(Files):
    """Rule ``halos_messages``' inputs: a split's trained network and the catalogue it was trained on."""

    model: Path
    catalogue: Path


@dataclass(frozen=True)
class HaloTables(Files):
    """A split's message table (sampled edges) and node table (every halo): rule ``halos_messages``' outputs, read
    by the searches, the evaluation and the figures."""

    messages: Path
    nodes: Path


def extract_messages(inputs: TrainedNetwork, tables: HaloTables, spec: HaloMessagesSpec, threads: int = 1) -> None:
    """Rule ``halos_messages``: the message table (sampled edges) and the node table (every halo)."""
    import torch  # here, not at the top: the tables' readers below serve the report and the searches, torch-free

    from symdistill.cosmology.network import DeviceCatalogue, summed_messages
    from symdistill.cosmology.training import load_halo_network

    torch.set_num_threads(threads)  # the job's cores, not the node's
    model, record = load_halo_network(inputs.model)
    train_spec = record["spec"]
    frame, meta = read_written_catalogue(inputs.catalogue)
    graph = HaloGraph.build(frame[["x", "y", "z"]].to_numpy(), meta["box"], train_spec.radius)
    rng = np.random.default_rng(spec.seed)
    chosen = np.sort(rng.choice(len(graph.senders), size=min(spec.edges, len(graph.senders)), replace=False))
    features = edge_features(frame, graph, train_spec.units, chosen)
    with torch.no_grad():
        messages = model.edge_model(torch.from_numpy(features)).double().numpy()
    ranks = ranked_components(messages)
    table = pd.DataFrame(  # built at once: a column added at a time fragments the frame (100 components)
        {
            "receiver": graph.receivers[chosen].astype(np.int64),
            "sender": graph.senders[chosen].astype(np.int64),
            **dict(zip(EDGE_INPUTS, features.astype(np.float64).T, strict=True)),
            "distance": graph.distances[chosen].astype(np.float64),
            "fit": rng.permutation(len(chosen)) < len(chosen) // 2,
            **{f"e{k}": messages[:, k] for k in range(messages.shape[1])},
        }
    )
    std = messages.std(axis=0)
    common = {"cell": record["cell"], "split": record["split"], "catalogue": meta.get("source", "file")}
    write_provenance(
        tables.messages,
        table,
        {**common, "format": MESSAGES_FORMAT, "ranked_components": [f"e{k}" for k in ranks], "std": std.tolist()},
    )
    data = DeviceCatalogue.of(frame, graph, train_spec.units, torch.device("cpu"))
    top = ranks[: spec.components]
    sums, predicted = summed_messages(model, data, top)
    nodes = pd.DataFrame(data.nodes.double().numpy(), columns=list(NODE_INPUTS))
    nodes.insert(0, "halo", frame["halo"].to_numpy())
    for k in range(len(top)):
        nodes[f"s{k}"] = sums[:, k].double().numpy()
    nodes["delta"] = frame["delta"].to_numpy(np.float64)
    nodes[NODE_TARGET] = predicted.double().numpy()
    nodes["train"] = train_spec.split.training_halos(frame["delta"].to_numpy(), record["split"])
    nodes["fit"] = rng.permutation(len(nodes)) < len(nodes) // 2  # among training halos: φv's search; the rest judge
    write_provenance(
        tables.nodes, nodes, {**common, "format": NODES_FORMAT, "summed": {f"s{k}": f"e{c}" for k, c in enumerate(top)}}
    )
    log.info("%s: top components %s (std %s)", record["cell"], top, [f"{std[c]:.3g}" for c in top])


def read_table(path: str | Path, file_format: str, cell: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A halo message or node table of ``cell``; refuses another format or another cell by name."""
    path = Path(path)
    if not path.is_file():
        raise HaloTableError(f"{path}: no such file (build it with rule halos_messages)")
    meta = read_provenance(path, "halo table", file_format, HaloTableError)
    if meta["cell"] != cell:
        raise HaloTableError(
            f"{path}: holds {meta['cell']}, but its path is {cell} (copied or moved): rebuild it with "
            "`-R halos_messages`"
        )
    return pd.read_parquet(path), meta


def node_inputs(nodes_meta: dict[str, Any]) -> list[str]:
    """φv's inputs: the summed components, then the halo's own ``NODE_INPUTS``."""
    return [*nodes_meta["summed"], *NODE_INPUTS]
