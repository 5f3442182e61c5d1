"""``mmoe``: Multi-gate Mixture-of-Experts (Ma, Zhao, Yi, Chen, Hong & Chi, KDD 2018).

    f_e = Expert_e(x) (e = 1..E, MLPs of widths ``hidden_sizes``),  g_t = softmax(W_t x),
    y_t = tower_t( sum_e g_t,e f_e )      for every task t of the data

where ``x`` is the input layer's output (:func:`methods._mtl_torch.encoder`: ``mtl`` click, like,
ctcvr, rating; ``tabular_mtl`` the census task pair). Objective: ``sum_t w_t L_t`` (masked BCE / MSE,
``w_t`` from ``loss_weighting``). All experts run in one batched matmul per layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from bench.methods import Categorical, register
from methods._mtl_torch import ExpertBank, MTLConfig, MTLNet, TorchMTL, encoder, linear, mix, tower

__all__ = ["MMoE", "MMoEConfig"]


@dataclass(frozen=True, kw_only=True)
class MMoEConfig(MTLConfig):
    """Attributes: those of :class:`methods._mtl_torch.MTLConfig` (``hidden_sizes`` = each expert's
    MLP) and ``n_experts``, the number of shared experts."""

    n_experts: int = 4

    search_space: ClassVar = {**MTLConfig.search_space, "n_experts": Categorical((2, 4, 8))}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_experts < 1:
            raise ValueError(f"n_experts must be >= 1, got {self.n_experts}")


class MMoENet(MTLNet):
    def __init__(self, data, cfg: MMoEConfig, rating_mean, gen, device):
        super().__init__(rating_mean, data.tasks, data.binary_tasks)
        self.loss_tasks = self.tasks
        self.encoder = encoder(data, cfg.embedding_size, gen, device)
        sizes = [self.encoder.out_dim, *cfg.hidden_sizes]
        self.experts = torch.nn.ModuleList(
            ExpertBank(cfg.n_experts, a, b, gen, device) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.gates = torch.nn.ModuleDict({t: linear(self.encoder.out_dim, cfg.n_experts, gen, device) for t in self.tasks})
        self.towers = torch.nn.ModuleDict({t: tower(sizes[-1], cfg.tower_sizes, gen, device) for t in self.tasks})

    def forward(self, batch):
        x = self.encoder(batch)
        h = x
        for bank in self.experts:
            h = bank(h)  # (E, B, width)
        if not len(self.experts):
            h = x.unsqueeze(0)
        logits = {}
        for t in self.tasks:
            g = torch.softmax(self.gates[t](x), dim=1)  # (B, E)
            mixed = mix(g, h)
            logits[t] = self.towers[t](mixed)
        return self.outputs(logits)

    def shared_parameters(self):
        return [*self.encoder.parameters(), *self.experts.parameters()]

    def last_shared_parameters(self):
        return [self.experts[-1].weight] if len(self.experts) else list(self.encoder.parameters())


@register("mmoe", config=MMoEConfig, scenarios=("mtl", "tabular_mtl"))
class MMoE(TorchMTL):
    """Multi-gate Mixture-of-Experts (Ma et al., 2018); see the module docstring. GradNorm acts on
    the experts' last layer."""

    def build(self, data, rating_mean, gen, device):
        return MMoENet(data, self.config, rating_mean, gen, device)
