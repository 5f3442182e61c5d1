"""``aitm``: Adaptive Information Transfer Multi-task framework (Xi, Chen, Wang, Pan, Chen, Zhou &
Chen, KDD 2021) for the sequential dependence click -> click AND like (ctcvr).

Shared feature embeddings feed one tower body per step (MLP ``hidden_sizes``): ``q_click``,
``q_ctcvr``. The Adaptive Information Transfer (AIT) module moves information from the click step:

    p = transfer(q_click),   u in {p, q_ctcvr},
    w_u = softmax_u( <h2(u), h3(u)> / sqrt(k) ),   z_ctcvr = sum_u w_u h1(u)

(``h1, h2, h3, transfer`` linear maps of width ``k``); ``y_click = sigmoid(out_click(q_click))``,
``y_ctcvr = sigmoid(out_ctcvr(z_ctcvr))``. A separate rating tower sits on the embeddings.

Objective: ``w_1 BCE(y_click, click) + w_2 BCE(y_ctcvr, ctcvr) + w_3 MSE(rating)
+ calibration_weight * mean(max(y_ctcvr - y_click, 0))`` — the behavioural expectation calibrator
(ctcvr cannot be likelier than click; weight 0.6 as in the paper), added unweighted by the balancer.
Predictions: click, ctcvr as above; like = min(y_ctcvr / y_click, 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from bench.methods import FloatRange, register
from methods._mtl_torch import EPS, FeatureEncoder, MTLConfig, MTLNet, TorchMTL, linear, mlp, tower

__all__ = ["AITM", "AITMConfig"]


@dataclass(frozen=True, kw_only=True)
class AITMConfig(MTLConfig):
    """Attributes: those of :class:`methods._mtl_torch.MTLConfig` (``hidden_sizes``: each step's tower
    body) and ``calibration_weight`` (alpha of the calibrator; 0.6 in the paper)."""

    calibration_weight: float = 0.6

    search_space: ClassVar = {**MTLConfig.search_space, "calibration_weight": FloatRange(0.0, 1.0)}

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.hidden_sizes:
            raise ValueError("hidden_sizes must list at least one width for aitm (the tower bodies)")
        if self.calibration_weight < 0:
            raise ValueError(f"calibration_weight must be >= 0, got {self.calibration_weight}")


class AITMNet(MTLNet):
    loss_tasks = ("click", "ctcvr", "rating")

    def __init__(self, data, cfg: AITMConfig, rating_mean, gen, device):
        super().__init__(rating_mean)
        self.calibration_weight = cfg.calibration_weight
        self.encoder = FeatureEncoder(data, cfg.embedding_size, gen, device)
        n_in, k = self.encoder.out_dim, cfg.hidden_sizes[-1]
        self.body_click = mlp(n_in, cfg.hidden_sizes, gen, device)
        self.body_ctcvr = mlp(n_in, cfg.hidden_sizes, gen, device)
        self.transfer = linear(k, k, gen, device)
        self.h1, self.h2, self.h3 = (linear(k, k, gen, device) for _ in range(3))
        self.out_click = tower(k, cfg.tower_sizes, gen, device)
        self.out_ctcvr = tower(k, cfg.tower_sizes, gen, device)
        self.rating = tower(n_in, (*cfg.hidden_sizes, *cfg.tower_sizes), gen, device)
        self.scale = 1.0 / math.sqrt(k)

    def forward(self, batch):
        x = self.encoder(batch)
        q_click, q_ctcvr = self.body_click(x), self.body_ctcvr(x)
        u = torch.stack([self.transfer(q_click), q_ctcvr], dim=1)  # (B, 2, k)
        w = torch.softmax((self.h2(u) * self.h3(u)).sum(-1) * self.scale, dim=1)  # (B, 2)
        z = (w.unsqueeze(-1) * self.h1(u)).sum(1)
        out = self.outputs({"click": self.out_click(q_click), "ctcvr": self.out_ctcvr(z), "rating": self.rating(x)})
        out["like"] = (out["ctcvr"] / out["click"].clamp_min(EPS)).clamp(max=1.0)
        return out

    def extra_loss(self, out, batch):
        if self.calibration_weight == 0:
            return None
        return self.calibration_weight * torch.relu(out["ctcvr"] - out["click"]).mean()

    def shared_parameters(self):
        """The embeddings (every task) and the click body + transfer map (click and ctcvr)."""
        return [*self.encoder.parameters(), *self.body_click.parameters(), *self.transfer.parameters()]

    def last_shared_parameters(self):
        return list(self.encoder.parameters())


@register("aitm", config=AITMConfig, scenarios=("mtl",))
class AITM(TorchMTL):
    """Adaptive Information Transfer Multi-task framework (Xi et al., 2021); see the module docstring.
    The shared layer (for GradNorm and PCGrad) is the embedding layer; the click tower also feeds the
    ctcvr step through the AIT module."""

    def build(self, data, rating_mean, gen, device):
        return AITMNet(data, self.config, rating_mean, gen, device)
