"""``mf``: matrix factorisation trained with the BPR pairwise loss (Rendle et al., UAI 2009).

score(u, i) = p_u . q_i;  minimise  mean_(u,i,j) -log sigmoid(p_u.q_i - p_u.q_j)
+ reg * (|p_u|^2 + |q_i|^2 + |q_j|^2) / (2 |batch|)

over training pairs (u, i) and one uniformly sampled item j the user has not interacted with, using Adam
(the regulariser on the batch's embeddings follows the LightGCN reference code, so ``reg`` means the same
for ``mf`` and ``lightgcn``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bench.interactions import Interactions
from bench.methods import register
from methods import _torch as T

__all__ = ["MF", "MFConfig"]


@dataclass(frozen=True, kw_only=True)
class MFConfig(T.TopNStopping, T.FactorConfig):
    """The shared torch fields (:class:`methods._torch.TorchConfig`) and ``init_std``; ``reg`` is the
    L2 weight on the batch's user, positive and negative item factors, ``batch_size`` counts training
    pairs (each with one negative), evaluation on ``valid`` is NDCG@10 with full ranking."""


@register("mf", config=MFConfig, scenarios=("topn",))
class MF(T.DotScorer):
    """Matrix factorisation with BPR loss (Rendle et al., 2009), torch, early stopping on ``valid``.

    Attributes (after ``fit``):
        user_factors_: ``(n_users, embedding_size)`` float32 array.
        item_factors_: ``(n_items, embedding_size)`` float32 array.
        training_log_: :class:`methods._torch.TrainingLog` (epochs run, losses, validation scores).

    Users with no training interaction keep their random initial factors (they never enter a batch,
    and the regulariser only acts on the batch), so their scores are finite but arbitrary. Items
    without training interactions are still updated: negatives are drawn uniformly from ALL items,
    so they are pushed down as sampled negatives (and regularised when drawn).
    """

    def __init__(self, config: MFConfig):
        self.config = config

    def fit(
        self, data: Interactions, *, rng: np.random.Generator, valid: Interactions | None = None
    ) -> MF:
        cfg = self.config
        device = T.resolve_device(cfg.device)
        gen = T.make_generator(rng, device)
        n_users, n_items = data.n_users, data.n_items
        with T.num_threads(cfg.num_threads):
            users, items, keys = T.interaction_tensors(data, device)
            model = T.Factors(n_users, n_items, cfg.embedding_size, cfg.init_std, device, gen)
            opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
            n = users.numel()

            def run_epoch(epoch: int) -> float:
                perm = torch.randperm(n, generator=gen, device=device)
                total = torch.zeros((), device=device)
                for start in range(0, n, cfg.batch_size):
                    idx = perm[start : start + cfg.batch_size]
                    u, i = users[idx], items[idx]
                    j = T.sample_negatives(u, keys, n_items, gen)
                    b = idx.numel()
                    # one gather of both items; index_select, not advanced indexing: on CPU its
                    # backward (index_add) is faster than index_put_ with accumulation (ML-1M epoch
                    # 1.25x), the same gradients bit for bit at one thread (num_threads: 1), and
                    # deterministic at any thread count, where the accumulation was not
                    pu = model.user.index_select(0, u)
                    q = model.item.index_select(0, torch.cat([i, j]))
                    loss = T.bpr_mf_loss(pu, q[:b], q[b:], cfg.reg)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += loss.detach() * idx.numel()
                return float(total) / max(n, 1)

            def build_score_fn() -> T.ScoreFn:
                return lambda u: T.dot_scores(model.user.detach(), model.item.detach(), u, device)

            evaluate = T.validation_evaluator(build_score_fn, train=data, valid=valid, method="mf")
            self.training_log_ = T.train_epochs(
                model, run_epoch if n else (lambda epoch: 0.0), cfg, evaluate=evaluate, method="mf",
            )
            self.user_factors_ = model.user.detach().cpu().numpy().copy()
            self.item_factors_ = model.item.detach().cpu().numpy().copy()
        return self
