"""``bitgcf``: Bi-directional Transfer Graph Collaborative Filtering (Liu et al., CIKM 2020)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from bench.cdr import CDRData
from bench.interactions import Interactions
from bench.methods import IntRange, register
from methods import _torch as T
from methods._cdr import (
    adam,
    CDRConfig,
    DomainPairs,
    DotScorer,
    SpMM,
    joint_steps,
    l2,
    rows,
    run_steps,
    sparse_tensor,
    validation_evaluator,
)
from methods.lightgcn import normalized_adjacency

__all__ = ["BiTGCF", "BiTGCFConfig"]


@dataclass(frozen=True, kw_only=True)
class BiTGCFConfig(CDRConfig):
    """Attributes (besides :class:`methods._cdr.CDRConfig`):
    n_layers: graph propagation layers per domain (each followed by the transfer step).
    """

    n_layers: int = 2

    search_space: ClassVar = {**CDRConfig.search_space, "n_layers": IntRange(1, 4)}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {self.n_layers}")


class _Bipartite:
    """One domain's normalised adjacency ``A = [[0, R], [R^T, 0]]`` kept as its two blocks ``R``
    (users x items) and ``R^T`` on the device: ``A @ [U; I] = [R I; R^T U]``, so propagation never
    builds, slices or concatenates the stacked ``(users + items) x d`` matrix."""

    def __init__(self, matrix, device: torch.device):
        adj = normalized_adjacency(matrix)
        n = matrix.shape[0]
        self.r = sparse_tensor(adj[:n, n:], device)
        self.rt = sparse_tensor(adj[n:, :n], device)

    def step(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One propagation layer: ``(R @ items, R^T @ users)``."""
        return SpMM.apply(items, self.r, self.rt), SpMM.apply(users, self.rt, self.r)


class _BiTGCF(torch.nn.Module):
    def __init__(self, n_users: int, n_s: int, n_t: int, dim: int, std: float, device, gen):
        super().__init__()
        self.ego_s = torch.nn.Parameter(torch.empty(n_users + n_s, dim, device=device))
        self.ego_t = torch.nn.Parameter(torch.empty(n_users + n_t, dim, device=device))
        torch.nn.init.normal_(self.ego_s, std=std, generator=gen)
        torch.nn.init.normal_(self.ego_t, std=std, generator=gen)
        self.n_users = n_users

    def propagate(
        self, gs: _Bipartite, gt: _Bipartite, lam_s: torch.Tensor, lam_t: torch.Tensor, n_layers: int
    ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """Layer-mean ``(users, items)`` embeddings of both graphs; after every layer (and on the ego
        layer) the user rows are exchanged: ``u_s <- lam_s u_s + (1 - lam_s) u_t`` and
        ``u_t <- lam_t u_t + (1 - lam_t) u_s``."""
        n = self.n_users

        def transfer(us: torch.Tensor, ut: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            # lerp(a, b, w) = a + w (b - a): one fused kernel instead of four products and sums
            return torch.lerp(ut, us, lam_s), torch.lerp(us, ut, lam_t)

        us, ut = transfer(self.ego_s[:n], self.ego_t[:n])
        is_, it = self.ego_s[n:], self.ego_t[n:]
        sum_us, sum_is, sum_ut, sum_it = us, is_, ut, it
        for _ in range(n_layers):
            (us, is_), (ut, it) = gs.step(us, is_), gt.step(ut, it)
            us, ut = transfer(us, ut)
            sum_us, sum_is, sum_ut, sum_it = sum_us + us, sum_is + is_, sum_ut + ut, sum_it + it
        k = float(n_layers + 1)
        return (sum_us / k, sum_is / k), (sum_ut / k, sum_it / k)


@register("bitgcf", config=BiTGCFConfig, scenarios=("cdr_warm", "cdr_cold"))
class BiTGCF(DotScorer):
    """BiTGCF (Liu et al., 2020): one graph per domain, propagated like LightGCN, with a
    bi-directional feature-transfer step on the shared users after every layer.

    E_d^(l+1) = A_d E_d^(l);  u_s <- lam_u u_s + (1 - lam_u) u_t,  u_t <- (1 - lam_u) u_t + lam_u u_s,
    lam_u = n_u^s / (n_u^s + n_u^t);  min BPR(source) + BPR(target) + reg/2 |E^(0)_batch|^2

    Implementation choices (documented deviations): propagation without per-layer weight matrices
    (LightGCN-style, sparse ``A_d @ E`` on the normalised bipartite adjacency) and the layer MEAN as the
    final embedding (the paper concatenates layers); the transfer also acts on the ego layer, so a user
    with no target interactions (lam_t = 0) is represented in the target entirely by transferred source
    features — this is how cold-start users get scores. Users with neither domain keep their random
    ego embedding (finite, arbitrary scores).

    Attributes: ``user_factors_`` / ``item_factors_`` (final target-domain embeddings),
    ``training_log_``.
    """

    def __init__(self, config: BiTGCFConfig):
        self.config = config

    def fit(self, data: CDRData, *, rng: np.random.Generator, valid: Interactions | None = None) -> BiTGCF:
        cfg = self.config
        device = T.resolve_device(cfg.device)
        gen = T.make_generator(rng, device)
        n, n_s, n_t = data.n_users, data.n_source_items, data.n_target_items
        with T.num_threads(cfg.num_threads):
            gs, gt = _Bipartite(data.source.matrix, device), _Bipartite(data.target.matrix, device)
            deg_s = np.diff(data.source.matrix.indptr).astype(np.float32)
            deg_t = np.diff(data.target.matrix.indptr).astype(np.float32)
            tot = deg_s + deg_t
            lam = np.where(tot > 0, deg_s / np.maximum(tot, 1.0), 0.5).astype(np.float32)
            lam_s = torch.from_numpy(lam).to(device).unsqueeze(1)
            lam_t = 1.0 - lam_s
            src, tgt = DomainPairs(data.source, device), DomainPairs(data.target, device)
            model = _BiTGCF(n, n_s, n_t, cfg.embedding_size, cfg.init_std, device, gen)
            opt = adam(model.parameters(), cfg.learning_rate)

            def domain_loss(emb, ego: torch.Tensor, pairs: DomainPairs, idx: torch.Tensor) -> torch.Tensor:
                if idx.numel() == 0:
                    return torch.zeros((), device=device)
                users, items = emb
                u, i, j = pairs.batch(idx, gen)
                eu, ei, ej = rows(users, u), rows(items, i), rows(items, j)
                reg = l2(cfg.reg, idx.numel(), rows(ego, u), rows(ego, i + n), rows(ego, j + n))
                return T.bpr_loss((eu * ei).sum(1), (eu * ej).sum(1)) + reg

            def loss_fn(idx_t: torch.Tensor, idx_s: torch.Tensor) -> torch.Tensor:
                es, et = model.propagate(gs, gt, lam_s, lam_t, cfg.n_layers)
                return domain_loss(et, model.ego_t, tgt, idx_t) + domain_loss(es, model.ego_s, src, idx_s)

            def run_epoch(epoch: int) -> float:
                return run_steps(joint_steps([tgt.n, src.n], cfg.batch_size, gen, device), loss_fn, opt)

            def build_score_fn() -> T.ScoreFn:
                _, (ut, it) = model.propagate(gs, gt, lam_s, lam_t, cfg.n_layers)
                ut, it = ut.detach(), it.detach()
                return lambda u: T.dot_scores(ut, it, u, device)

            evaluate = validation_evaluator(build_score_fn, train=data.target,
                valid=valid, cfg=cfg, rng=rng, method="bitgcf")
            self.training_log_ = T.train_epochs(
                model, run_epoch, cfg, evaluate=evaluate, method="bitgcf",
            )
            with torch.no_grad():
                _, (ut, it) = model.propagate(gs, gt, lam_s, lam_t, cfg.n_layers)
            self.user_factors_ = ut.cpu().numpy().copy()
            self.item_factors_ = it.cpu().numpy().copy()
        return self
