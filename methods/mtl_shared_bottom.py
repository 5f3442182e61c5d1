"""``shared_bottom``: hard parameter sharing (Caruana, Machine Learning 1997; the baseline of Ma et
al., KDD 2018 and Tang et al., RecSys 2020).

    h = MLP_shared(embed(x));   y_t = tower_t(h)   for every task t of the data (mtl: click, like,
                                                    ctcvr, rating; tabular_mtl: the census pair)

Objective: ``sum_t w_t L_t`` over the masked task losses (BCE for click / like / ctcvr, MSE for
rating; ``like`` and ``rating`` on clicked impressions only), ``w_t`` from ``loss_weighting``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.methods import register
from methods._mtl_torch import MTLConfig, MTLNet, TorchMTL, encoder, mlp, tower

__all__ = ["SharedBottom", "SharedBottomConfig", "SharedBottomNet"]


@dataclass(frozen=True, kw_only=True)
class SharedBottomConfig(MTLConfig):
    """Fields of :class:`methods._mtl_torch.MTLConfig`; ``hidden_sizes`` is the shared bottom MLP."""


class SharedBottomNet(MTLNet):
    """Input layer -> shared MLP -> one tower per task in ``tasks`` (default: every task of ``data``)."""

    def __init__(self, data, cfg: MTLConfig, rating_mean: float, gen, device, tasks=None):
        super().__init__(rating_mean, data.tasks if tasks is None else tasks, data.binary_tasks)
        self.loss_tasks = self.tasks
        self.encoder = encoder(data, cfg.embedding_size, gen, device)
        self.bottom = mlp(self.encoder.out_dim, cfg.hidden_sizes, gen, device)
        width = cfg.hidden_sizes[-1] if cfg.hidden_sizes else self.encoder.out_dim
        self.towers = torch.nn.ModuleDict({t: tower(width, cfg.tower_sizes, gen, device) for t in self.tasks})

    def forward(self, batch):
        h = self.bottom(self.encoder(batch))
        return self.outputs({t: head(h) for t, head in self.towers.items()})

    def shared_parameters(self):
        return [*self.encoder.parameters(), *self.bottom.parameters()]

    def last_shared_parameters(self):
        linears = [m for m in self.bottom if isinstance(m, torch.nn.Linear)]
        return [linears[-1].weight] if linears else [p for p in self.encoder.parameters()]


@register("shared_bottom", config=SharedBottomConfig, scenarios=("mtl", "tabular_mtl"))
class SharedBottom(TorchMTL):
    """Shared-bottom multi-task network (hard parameter sharing, Caruana 1997); see the module
    docstring. GradNorm acts on the last layer of the shared MLP."""

    def build(self, data, rating_mean, gen, device):
        return SharedBottomNet(data, self.config, rating_mean, gen, device)
