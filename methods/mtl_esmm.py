"""``esmm``: Entire Space Multi-task Model (Ma, Zhao, Huang, Wang, Hu, Zhu & Gai, SIGIR 2018).

Shared feature embeddings feed a CTR tower and a CVR tower (each an MLP ``hidden_sizes`` + 1 unit)
and a rating tower:

    pCTR = sigmoid(ctr(x)),   pCVR = sigmoid(cvr(x)),   pCTCVR = pCTR * pCVR

Objective over the entire impression space: ``w_1 BCE(pCTR, click) + w_2 BCE(pCTCVR, click AND like)
+ w_3 MSE(rating)`` (rating on clicked impressions). The CVR tower has no loss of its own: it is
trained only through the product, which removes the sample-selection bias of fitting CVR on clicks.
Predictions: click = pCTR, like = pCVR, ctcvr = pCTCVR.
"""

from __future__ import annotations

from dataclasses import dataclass


from bench.methods import register
from methods._mtl_torch import FeatureEncoder, MTLConfig, MTLNet, TorchMTL, tower

__all__ = ["ESMM", "ESMMConfig"]


@dataclass(frozen=True, kw_only=True)
class ESMMConfig(MTLConfig):
    """Fields of :class:`methods._mtl_torch.MTLConfig`; each tower is ``hidden_sizes + tower_sizes``."""


class ESMMNet(MTLNet):
    loss_tasks = ("click", "ctcvr", "rating")

    def __init__(self, data, cfg: ESMMConfig, rating_mean, gen, device):
        super().__init__(rating_mean)
        self.encoder = FeatureEncoder(data, cfg.embedding_size, gen, device)
        sizes = (*cfg.hidden_sizes, *cfg.tower_sizes)
        self.ctr = tower(self.encoder.out_dim, sizes, gen, device)
        self.cvr = tower(self.encoder.out_dim, sizes, gen, device)
        self.rating = tower(self.encoder.out_dim, sizes, gen, device)

    def forward(self, batch):
        x = self.encoder(batch)
        out = self.outputs({"click": self.ctr(x), "like": self.cvr(x), "rating": self.rating(x)})
        out["ctcvr"] = out["click"] * out["like"]
        return out

    def shared_parameters(self):
        return list(self.encoder.parameters())

    def last_shared_parameters(self):
        return list(self.encoder.parameters())


@register("esmm", config=ESMMConfig, scenarios=("mtl",))
class ESMM(TorchMTL):
    """Entire Space Multi-task Model (Ma et al., 2018); see the module docstring. The shared layer
    (for GradNorm and PCGrad) is the embedding layer."""

    def build(self, data, rating_mean, gen, device):
        return ESMMNet(data, self.config, rating_mean, gen, device)
