"""``lightgcn``: LightGCN (He et al., SIGIR 2020), simplified graph convolution for collaborative filtering.

E^(k+1) = A_hat E^(k),  A_hat = D^-1/2 [[0, R], [R^T, 0]] D^-1/2,  E = mean_(k=0..K) E^(k)
score(u, i) = e_u . e_i;  minimise  mean_(u,i,j) -log sigmoid(e_u.e_i - e_u.e_j)
+ reg * (|e0_u|^2 + |e0_i|^2 + |e0_j|^2) / (2 |batch|)

with one uniformly sampled unobserved item j per training pair, L2 on the batch's ego (layer-0)
embeddings, Adam — as in the authors' reference implementation. Propagation is ``K`` sparse-dense
products with a torch sparse CSR adjacency, recomputed for every batch so gradients reach all ego
embeddings.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch

from bench.interactions import Interactions
from bench.methods import Categorical, FloatRange, IntRange, register
from methods import _torch as T

__all__ = ["LightGCN", "LightGCNConfig", "normalized_adjacency"]


@dataclass(frozen=True, kw_only=True)
class LightGCNConfig(T.TopNStopping, T.FactorConfig):
    """The shared torch fields (:class:`methods._torch.TorchConfig`) and ``init_std`` of the ego
    (layer-0) embeddings; ``reg`` is the L2 weight on the batch's ego embeddings (user, positive and
    negative item), ``batch_size`` counts training pairs (each with one negative).

    Attributes:
        n_layers: propagation layers K; the final embedding is the mean of layers 0..K.
    """

    n_layers: int = 3
    batch_size: int = 2048

    search_space: ClassVar = {
        "embedding_size": Categorical((32, 64, 128)),
        "n_layers": IntRange(1, 4),
        "learning_rate": FloatRange(1e-4, 1e-1, log=True),
        "reg": FloatRange(1e-6, 1e-2, log=True),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_layers < 0:
            raise ValueError(f"n_layers must be >= 0, got {self.n_layers}")


def normalized_adjacency(matrix: sp.spmatrix) -> sp.csr_matrix:
    """``D^-1/2 A D^-1/2`` of the bipartite graph ``A = [[0, R], [R^T, 0]]`` (users first), float32.

    Nodes without edges have degree 0 and an all-zero row and column (no division by zero).
    """
    r = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    r.data[:] = 1.0
    adj = sp.bmat([[None, r], [r.T, None]], format="csr", dtype=np.float32)
    deg = np.asarray(adj.sum(axis=1)).ravel()
    inv = np.zeros_like(deg)
    np.divide(1.0, np.sqrt(deg), out=inv, where=deg > 0)
    d = sp.diags(inv.astype(np.float32))
    out = (d @ adj @ d).tocsr().astype(np.float32)
    out.sort_indices()
    return out


def _torch_csr(m: sp.csr_matrix, device: torch.device) -> torch.Tensor:
    with warnings.catch_warnings():  # "sparse CSR support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(m.indptr.astype(np.int64)).to(device),
            torch.from_numpy(m.indices.astype(np.int64)).to(device),
            torch.from_numpy(m.data.astype(np.float32)).to(device),
            size=m.shape,
            check_invariants=False,
        )


class _SymmetricSpMM(torch.autograd.Function):
    """``A @ X`` for a constant symmetric sparse ``A``: the gradient is ``A @ G`` (``A^T = A``), which
    avoids the transposition torch's generic sparse backward performs on every step."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        ctx.a = a
        return torch.sparse.mm(a, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return torch.sparse.mm(ctx.a, grad), None


class _LightGCN(torch.nn.Module):
    def __init__(self, n_nodes: int, dim: int, std: float, device, generator):
        super().__init__()
        self.ego = torch.nn.Parameter(torch.empty(n_nodes, dim, device=device))
        torch.nn.init.normal_(self.ego, std=std, generator=generator)

    def propagate(self, adj: torch.Tensor, n_layers: int) -> torch.Tensor:
        x, total = self.ego, self.ego
        for _ in range(n_layers):
            x = _SymmetricSpMM.apply(x, adj)
            total = total + x
        return total / (n_layers + 1)


@register("lightgcn", config=LightGCNConfig, scenarios=("topn",))
class LightGCN(T.DotScorer):
    """LightGCN (He et al., 2020): layer-mean of linear graph propagation, BPR loss, early stopping.

    Attributes (after ``fit``):
        user_factors_: ``(n_users, embedding_size)`` float32 final (propagated, layer-mean) embeddings.
        item_factors_: ``(n_items, embedding_size)`` float32 final item embeddings.
        training_log_: :class:`methods._torch.TrainingLog` (epochs run, losses, validation scores).

    Users with no training interaction have no edges: every propagated layer is zero for them, so
    their final embedding is their random initial ego embedding / (K + 1), never updated (they are in
    no batch); their scores are finite but arbitrary. Items without training interactions have no
    edges either, but they ARE updated: negatives are drawn uniformly from all items, so such an
    item's ego embedding receives the BPR gradient (and the regulariser) whenever it is drawn.
    """

    def __init__(self, config: LightGCNConfig):
        self.config = config

    def fit(
        self, data: Interactions, *, rng: np.random.Generator, valid: Interactions | None = None
    ) -> LightGCN:
        cfg = self.config
        device = T.resolve_device(cfg.device)
        gen = T.make_generator(rng, device)
        n_users, n_items = data.n_users, data.n_items
        with T.num_threads(cfg.num_threads):
            users, items, keys = T.interaction_tensors(data, device)
            adj = _torch_csr(normalized_adjacency(data.matrix), device)
            n_nodes = n_users + n_items
            model = _LightGCN(n_nodes, cfg.embedding_size, cfg.init_std, device, gen)
            opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
            n = users.numel()

            def run_epoch(epoch: int) -> float:
                perm = torch.randperm(n, generator=gen, device=device)
                total = torch.zeros((), device=device)
                for start in range(0, n, cfg.batch_size):
                    idx = perm[start : start + cfg.batch_size]
                    u, i = users[idx], items[idx] + n_users
                    j = T.sample_negatives(u, keys, n_items, gen) + n_users
                    b = idx.numel()
                    emb = model.propagate(adj, cfg.n_layers)
                    eu, ei, ej = emb[u], emb[i], emb[j]
                    loss = T.bpr_loss((eu * ei).sum(1), (eu * ej).sum(1))
                    # sum of |e0|^2 over the batch's nodes (with repeats), without a 3b x d gather
                    times = torch.bincount(torch.cat([u, i, j]), minlength=n_nodes)
                    l2 = (times.to(emb.dtype) * model.ego.square().sum(1)).sum()
                    loss = loss + cfg.reg * 0.5 * l2 / b
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += loss.detach() * idx.numel()
                return float(total) / max(n, 1)

            def build_score_fn() -> T.ScoreFn:
                emb = model.propagate(adj, cfg.n_layers).detach()
                return lambda u: T.dot_scores(emb[:n_users], emb[n_users:], u, device)

            evaluate = T.validation_evaluator(
                build_score_fn, train=data, valid=valid, method="lightgcn"
            )
            self.training_log_ = T.train_epochs(
                model, run_epoch if n else (lambda epoch: 0.0), cfg, evaluate=evaluate, method="lightgcn",
            )
            with torch.no_grad():
                emb = model.propagate(adj, cfg.n_layers).cpu().numpy()
            self.user_factors_ = emb[:n_users].copy()
            self.item_factors_ = emb[n_users:].copy()
        return self
