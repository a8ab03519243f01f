r"""The cosmology experiment's graph network (paper §4.3): φe on every edge j → i of the radius graph, the messages
summed per halo, φv predicting the halo's overdensity δ_i; its batches, evaluation and message sums (rule
``halos_train`` trains it: ``training``).

Inputs are scalars that do not change under translations and rotations of the periodic box, made dimensionless
by :class:`symdistill.cosmology.catalogue.HaloUnits`: φe sees the receiver's and the sender's mass, their distance
and their relative speed (``EDGE_INPUTS``); φv sees the halo's mass and speed (``NODE_INPUTS``) beside the summed
messages. These are the variables of the paper's Table 6 formulas, so the symbolic fits of φe and φv are in them
too.

The graph is one catalogue, not many small systems: a batch is a set of receiving halos with all their incoming
edges (the edges are sorted by receiver, so each halo's are one slice), and a test halo keeps sending messages to
its training neighbours: the split divides the targets, not the graph.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from symdistill.core.specs import Spec
from symdistill.cosmology.catalogue import EDGE_INPUTS, NODE_INPUTS, HaloUnits, edge_features, node_features
from symdistill.cosmology.graph import HaloGraph
from symdistill.engine.mlp import mlp

log = logging.getLogger(__name__)
EVAL_HALOS = 4096


@dataclass(frozen=True)
class HaloModelSpec(Spec):
    """Config ``cosmology.model``: the paper's network is L1 (1e-2) with 100 message components, 500 hidden units
    and two hidden layers per MLP."""

    hidden: int
    layers: int
    loss: str  # mae (the paper's metric) or mse
    msg_dim: int
    reg_weight: float  # α of the L1 penalty on the messages


class Standardise(nn.Module):
    """x → (x − mean) / std with the training data's statistics, fixed (buffers, saved with the weights).

    Why: in the law's units the distances span 0–0.17 and the kernel's edge sits at 0.065; a ReLU MLP fed that
    range needs many epochs before its first layer resolves the edge. Inside φe and φv, so the functions the
    symbolic fits see still take the law's units.

    Shapes: (..., features) → (..., features); ``mean`` and ``std`` are buffers of ``features`` values.
    """

    def __init__(self, features: int):
        super().__init__()
        self.features = features
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))

    def extra_repr(self) -> str:
        return f"features={self.features}"

    def fit(self, x: Tensor) -> None:
        self.mean.copy_(x.double().mean(dim=0).float())
        self.std.copy_(x.double().std(dim=0).clamp_min(1e-12).float())

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class HaloNetwork(nn.Module):
    r"""The paper's cosmology GN (§4.3): messages on the radius graph, summed per halo, φv predicting δ.

    .. math::

        \mathbf{e}_{ij} = \phi_e(\tilde M_i, \tilde M_j, \tilde r_{ij}, |\Delta\tilde{\mathbf v}_{ij}|), \qquad
        \hat\delta_i = \phi_v\Big(\tilde M_i, |\tilde{\mathbf v}_i|, \sum_{j:\, r_{ij} < R} \mathbf{e}_{ij}\Big)

    for every edge j → i of the radius graph (``EDGE_INPUTS``, ``NODE_INPUTS``; dimensionless by ``HaloUnits``),
    each input standardised inside φe and φv (``Standardise``), φe and φv MLPs of ``layers`` hidden layers of
    ``hidden`` units.

    Shapes: ``forward(nodes, edges, owner)`` takes the receiving halos' features (B, 2), their incoming edges'
    (E, 4) and each edge's row among them (E,), and returns δ̂ (B,) and the messages (E, msg_dim).

    Why the message sum is written here, not as the n-body ``GraphNetwork``'s: both sum φe over each receiver's
    incoming edges with one ``index_add_``, but the n-body graphs are batches of identical small complete graphs
    (a dense (graphs, n, ·) tensor and one fixed receiver index, which keeps a training step free of collation),
    while the halo graph is one irregular radius graph whose batches are sets of halos with any number of
    incoming edges (``DeviceCatalogue.batch``: an owner index per edge).
    """

    def __init__(self, spec: HaloModelSpec):
        super().__init__()
        self.edge_inputs, self.node_inputs = len(EDGE_INPUTS), len(NODE_INPUTS)
        self.hidden, self.layers = spec.hidden, spec.layers
        self.msg_dim = spec.msg_dim
        self.edge_model = nn.Sequential(
            Standardise(len(EDGE_INPUTS)), mlp(len(EDGE_INPUTS), spec.hidden, spec.msg_dim, layers=spec.layers)
        )  # φe
        self.node_input = Standardise(len(NODE_INPUTS))
        self.node_model = mlp(len(NODE_INPUTS) + spec.msg_dim, spec.hidden, 1, layers=spec.layers)  # φv

    def extra_repr(self) -> str:
        return (
            f"edge_inputs={self.edge_inputs}, node_inputs={self.node_inputs}, msg_dim={self.msg_dim}, "
            f"hidden={self.hidden}, layers={self.layers}, aggr=add"
        )

    def standardise(self, nodes: Tensor, edges: Tensor) -> None:
        """Fix the input scales from the catalogue's halos and edges (before training)."""
        self.edge_model[0].fit(edges)
        self.node_input.fit(nodes)

    def forward(self, nodes: Tensor, edges: Tensor, owner: Tensor) -> tuple[Tensor, Tensor]:
        """δ̂ of the ``len(nodes)`` receiving halos and the messages of their incoming ``edges``; ``owner[e]``
        is the row of ``nodes`` that edge e arrives at."""
        messages = self.edge_model(edges)
        summed = self.summed(messages, owner, len(nodes))
        return self.node(nodes, summed), messages

    def summed(self, messages: Tensor, owner: Tensor, halos: int) -> Tensor:
        """Each of ``halos`` receiving halos' sum of its incoming messages (``owner[e]``: edge e's halo)."""
        return messages.new_zeros(halos, self.msg_dim).index_add_(0, owner, messages)

    def node(self, nodes: Tensor, summed: Tensor) -> Tensor:
        """φv: δ̂ from the node's own inputs and its summed messages."""
        return self.node_model(torch.cat([self.node_input(nodes), summed], dim=-1)).squeeze(-1)


@dataclass(frozen=True)
class DeviceCatalogue:
    """A catalogue's features, targets and graph slices on the training device, and the slices' offsets on the host.

    A batch's edge count sizes its tensors; read from the device it would stop the host at every step until the
    GPU caught up (twice: ``int(counts.sum())`` and ``repeat_interleave`` without ``output_size``). The host copy
    of the offsets gives it without asking the device, so batch indices live on the host (``TrainingHalos``).
    """

    nodes: Tensor  # (n, 2)
    edges: Tensor  # (E, 4)
    offsets: Tensor  # (n + 1,)
    delta: Tensor  # (n,)
    host_offsets: Tensor  # (n + 1,) on the CPU

    @classmethod
    def of(cls, frame: pd.DataFrame, graph: HaloGraph, units: HaloUnits, device: torch.device) -> DeviceCatalogue:
        return cls(
            torch.from_numpy(node_features(frame, units)).to(device),
            torch.from_numpy(edge_features(frame, graph, units)).to(device),
            torch.from_numpy(graph.offsets).to(device),
            torch.from_numpy(frame["delta"].to_numpy(np.float32)).to(device),
            torch.from_numpy(graph.offsets),
        )

    def batch(self, halos: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The node features of ``halos`` (indices on the host), the features of all their incoming edges, and
        each edge's row; nothing read back from the device."""
        total = int((self.host_offsets[halos + 1] - self.host_offsets[halos]).sum())  # host arithmetic
        halos = halos.to(self.nodes.device)
        starts = self.offsets[halos]
        counts = self.offsets[halos + 1] - starts
        owner = torch.repeat_interleave(torch.arange(len(halos), device=halos.device), counts, output_size=total)
        first = torch.cumsum(counts, 0) - counts  # where each halo's edges begin in the batch
        index = torch.arange(total, device=halos.device) - first[owner] + starts[owner]
        return self.nodes[halos], self.edges[index], owner

    def targets(self, halos: Tensor) -> Tensor:
        """δ of ``halos`` (indices on the host), on the device."""
        return self.delta[halos.to(self.delta.device)]


def loss_mean(pred: Tensor, target: Tensor, kind: str) -> Tensor:
    """The training loss over a batch's halos: mean absolute error (the paper's metric) or mean squared error."""
    err = pred - target
    if kind == "mae":
        return err.abs().mean()
    if kind == "mse":
        return (err**2).mean()
    raise ValueError(f"unknown loss {kind!r}; expected mae or mse")


@torch.no_grad()
def predict(model: HaloNetwork, data: DeviceCatalogue, halos: Tensor) -> Tensor:
    """δ̂ of ``halos``, in batches of ``EVAL_HALOS``."""
    out = [model(*data.batch(halos[i : i + EVAL_HALOS]))[0] for i in range(0, len(halos), EVAL_HALOS)]
    return torch.cat(out) if out else data.delta.new_zeros(0)


@torch.no_grad()
def network_loss(model: HaloNetwork, data: DeviceCatalogue, halos: Tensor, kind: str = "mae") -> float:
    """``loss_mean`` over ``halos``: by default the paper's metric, mean |δ − δ̂|."""
    return float(loss_mean(predict(model, data, halos).double(), data.targets(halos).double(), kind))


@torch.no_grad()
def message_std(model: HaloNetwork, data: DeviceCatalogue, halos: Tensor) -> list[float]:
    """Std of each message component over the incoming edges of ``halos``: the sparsity the L1 penalty buys."""
    _, edges, _ = data.batch(halos)
    return model.edge_model(edges).double().std(dim=0).tolist()


@torch.no_grad()
def summed_messages(model: HaloNetwork, data: DeviceCatalogue, components: list[int]) -> tuple[Tensor, Tensor]:
    """Every halo's sum of ``components`` over all its incoming edges, and the network's δ̂ (full messages)."""
    sums, predictions = [], []
    n = len(data.nodes)
    for start in range(0, n, EVAL_HALOS):
        halos = torch.arange(start, min(start + EVAL_HALOS, n))
        nodes, edges, owner = data.batch(halos)
        summed = model.summed(model.edge_model(edges), owner, len(halos))
        sums.append(summed[:, components])
        predictions.append(model.node(nodes, summed))
    return torch.cat(sums), torch.cat(predictions)
