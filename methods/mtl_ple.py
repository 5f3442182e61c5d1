"""``ple``: Progressive Layered Extraction, multi-level Customized Gate Control (Tang, Liu, Zhao &
Gong, RecSys 2020).

Level ``l`` (one per width in ``hidden_sizes``) has ``n_task_experts`` experts per task and
``n_shared_experts`` shared experts (each ``Linear -> ReLU``). Task ``t``'s gate mixes its own and
the shared experts, ``h_t^l = sum_e softmax(W_t^l x_t^{l-1})_e E_e(x_t^{l-1})``; below the last level a
shared gate mixes all experts into the shared path ``x_s^l``. Level 0's inputs are the input layer's
output (:func:`methods._mtl_torch.encoder`); the tasks are the data's. Towers on ``h_t`` of the last level. Objective: ``sum_t w_t L_t`` (masked BCE / MSE,
``w_t`` from ``loss_weighting``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from bench.methods import Categorical, register
from methods._mtl_torch import ExpertBank, MTLConfig, MTLNet, TorchMTL, encoder, linear, mix, tower

__all__ = ["PLE", "PLEConfig"]


@dataclass(frozen=True, kw_only=True)
class PLEConfig(MTLConfig):
    """Attributes: those of :class:`methods._mtl_torch.MTLConfig` (``hidden_sizes``: one extraction
    level per width) plus ``n_shared_experts`` and ``n_task_experts`` per level."""

    n_shared_experts: int = 2
    n_task_experts: int = 1

    search_space: ClassVar = {
        **MTLConfig.search_space,
        "n_shared_experts": Categorical((1, 2, 4)),
        "n_task_experts": Categorical((1, 2)),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.hidden_sizes:
            raise ValueError("hidden_sizes must list at least one level width for ple")
        for name in ("n_shared_experts", "n_task_experts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class _Level(torch.nn.Module):
    """One CGC level: task-specific and shared expert banks, task gates and (optionally) a shared gate."""

    def __init__(self, n_in, width, n_task, n_shared, last, gen, device, n_tasks):
        super().__init__()
        self.n_task, self.n_shared, self.n_tasks = n_task, n_shared, n_tasks
        self.task_experts = ExpertBank(n_tasks * n_task, n_in, width, gen, device)
        self.shared_experts = ExpertBank(n_shared, n_in, width, gen, device)
        self.gates = torch.nn.ModuleList(linear(n_in, n_task + n_shared, gen, device) for _ in range(n_tasks))
        self.shared_gate = None if last else linear(n_in, n_tasks * n_task + n_shared, gen, device)

    def forward(self, xs: list[torch.Tensor], x_shared: torch.Tensor):
        n_tasks = self.n_tasks
        if all(x is x_shared for x in xs):  # first level: one input for every expert
            task_out = self.task_experts(x_shared)  # (T * n_task, B, w)
        else:
            task_in = torch.stack(xs).repeat_interleave(self.n_task, dim=0)  # (T * n_task, B, in)
            task_out = self.task_experts(task_in)
        shared_out = self.shared_experts(x_shared)  # (n_shared, B, w)
        outs = []
        for t in range(n_tasks):
            experts = torch.cat([task_out[t * self.n_task : (t + 1) * self.n_task], shared_out])
            g = torch.softmax(self.gates[t](xs[t]), dim=1)
            outs.append(mix(g, experts))
        new_shared = None
        if self.shared_gate is not None:
            g = torch.softmax(self.shared_gate(x_shared), dim=1)
            new_shared = mix(g, torch.cat([task_out, shared_out]))
        return outs, new_shared


class PLENet(MTLNet):
    def __init__(self, data, cfg: PLEConfig, rating_mean, gen, device):
        super().__init__(rating_mean, data.tasks, data.binary_tasks)
        self.loss_tasks = self.tasks
        self.encoder = encoder(data, cfg.embedding_size, gen, device)
        sizes = [self.encoder.out_dim, *cfg.hidden_sizes]
        n = len(cfg.hidden_sizes)
        self.levels = torch.nn.ModuleList(
            _Level(sizes[i], sizes[i + 1], cfg.n_task_experts, cfg.n_shared_experts, i == n - 1, gen, device,
                   len(self.tasks))
            for i in range(n)
        )
        self.towers = torch.nn.ModuleDict({t: tower(sizes[-1], cfg.tower_sizes, gen, device) for t in self.tasks})

    def forward(self, batch):
        x = self.encoder(batch)
        xs, shared = [x] * len(self.tasks), x
        for level in self.levels:
            xs, shared = level(xs, shared)
        return self.outputs({t: self.towers[t](xs[i]) for i, t in enumerate(self.tasks)})

    def shared_parameters(self):
        """Everything more than one task reaches: the encoder, every level below the last (its task
        experts feed the shared gate) and the last level's shared experts."""
        return [
            *self.encoder.parameters(),
            *(p for lv in self.levels[:-1] for p in lv.parameters()),
            *self.levels[-1].shared_experts.parameters(),
        ]

    def last_shared_parameters(self):
        return [self.levels[-1].shared_experts.weight]


@register("ple", config=PLEConfig, scenarios=("mtl", "tabular_mtl"))
class PLE(TorchMTL):
    """Progressive Layered Extraction (Tang et al., 2020); see the module docstring. GradNorm acts on
    the last level's shared experts."""

    def build(self, data, rating_mean, gen, device):
        return PLENet(data, self.config, rating_mean, gen, device)
