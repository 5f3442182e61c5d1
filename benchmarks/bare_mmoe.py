"""A bare torch MMoE training epoch: the floor that ``methods/mtl_mmoe.py`` is measured against.

The same network as :class:`methods.mtl_mmoe.MMoENet` with its defaults (field embeddings of
dimension 16 for user id, item id, each demographic field and the genre mean; 4 experts of widths
64 -> 32; one softmax gate and one 32 -> 16 -> 1 tower per task; sigmoid outputs for the binary tasks,
rating = training mean + offset; masked BCE / squared-error losses summed; Adam with weight decay),
written the way a person tuning one loop by hand would: every input packed once into three
tensors (ids with offsets into ONE embedding table, genres, labels + masks), one gather per batch,
experts and gates as one GEMM each, the towers as batched matmuls, the losses of all tasks in one
vectorised expression. No registry, no config validation, no early stopping, no logging.

Not a method of the benchmark (nothing imports it outside ``benchmarks/``); its initialisation is
not the method's, so compare speed only.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from bench.multitask import TASKS, MTLData

__all__ = ["bare_mmoe_epoch"]


def _packed(data: MTLData) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """(ids (n, 2+F) int64 with per-field offsets, genres (n, G), labels (n, T), masks (n, T), field
    sizes)."""
    sizes = [data.n_user_ids, data.n_item_ids, *data.field_sizes]
    offsets = np.cumsum([0, *sizes[:-1]])
    ids = np.column_stack([data.user_id, data.item_id, data.user_fields]) + offsets
    labels = np.column_stack([data.labels[t] for t in TASKS]).astype(np.float32)
    masks = np.column_stack([data.masks[t] for t in TASKS]).astype(np.float32)
    return (torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(data.item_genres.astype(np.float32)),
            torch.from_numpy(labels), torch.from_numpy(masks), sizes)


def bare_mmoe_epoch(data: MTLData, *, seed: int = 0, batch_size: int = 2048, dim: int = 16,
                    hidden: tuple[int, int] = (64, 32), tower: int = 16, n_experts: int = 4,
                    lr: float = 2e-3, weight_decay: float = 1e-6) -> float:
    """Build the network and train one epoch over ``data``; returns the mean objective."""
    gen = torch.Generator().manual_seed(seed)
    ids, genres, labels, masks, sizes = _packed(data)
    n, n_fields = ids.shape
    n_tasks = len(TASKS)
    rating = TASKS.index("rating")
    binary = torch.tensor([t != "rating" for t in TASKS])
    y_rating = labels[:, rating][masks[:, rating] > 0]
    rating_mean = float(y_rating.mean()) if y_rating.numel() else 0.0

    def param(*shape, std=None, bound=None):
        t = torch.empty(*shape)
        t.normal_(0, std, generator=gen) if std is not None else t.uniform_(-bound, bound, generator=gen)
        return torch.nn.Parameter(t)

    d_in = dim * (n_fields + 1)
    table = param(sum(sizes), dim, std=0.05)
    genre = param(genres.shape[1], dim, std=0.05)
    w1, b1 = param(d_in, n_experts * hidden[0], bound=(6 / (d_in + hidden[0])) ** 0.5), torch.nn.Parameter(torch.zeros(n_experts * hidden[0]))
    w2, b2 = param(n_experts, hidden[0], hidden[1], bound=(6 / sum(hidden)) ** 0.5), torch.nn.Parameter(torch.zeros(n_experts, 1, hidden[1]))
    wg, bg = param(d_in, n_tasks * n_experts, bound=(6 / (d_in + n_experts)) ** 0.5), torch.nn.Parameter(torch.zeros(n_tasks * n_experts))
    wt1, bt1 = param(n_tasks, hidden[1], tower, bound=(6 / (hidden[1] + tower)) ** 0.5), torch.nn.Parameter(torch.zeros(n_tasks, 1, tower))
    wt2, bt2 = param(n_tasks, tower, 1, bound=(6 / (tower + 1)) ** 0.5), torch.nn.Parameter(torch.zeros(n_tasks, 1, 1))
    params = [table, genre, w1, b1, w2, b2, wg, bg, wt1, bt1, wt2, bt2]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)

    perm = torch.randperm(n, generator=gen)
    total = torch.zeros(())
    for start in range(0, n, batch_size):
        idx = perm[start:start + batch_size]
        b = idx.numel()
        g = genres[idx]
        x = torch.cat([F.embedding(ids[idx], table).view(b, -1),
                       (g @ genre) / g.sum(1, keepdim=True).clamp_min(1.0)], 1)          # (B, d_in)
        h = torch.relu(torch.addmm(b1, x, w1)).view(b, n_experts, hidden[0]).transpose(0, 1)
        h = torch.relu(torch.baddbmm(b2, h, w2))                                          # (E, B, d)
        gates = torch.softmax(torch.addmm(bg, x, wg).view(b, n_tasks, n_experts), 2)    # (B, T, E)
        mixed = torch.bmm(gates, h.transpose(0, 1)).transpose(0, 1)                       # (T, B, d)
        out = torch.baddbmm(bt2, torch.relu(torch.baddbmm(bt1, mixed, wt1)), wt2)[..., 0].t()  # (B, T)
        y, m = labels[idx], masks[idx]
        p = torch.sigmoid(out).clamp(1e-7, 1 - 1e-7)
        err = torch.where(binary, -(y * torch.log(p) + (1 - y) * torch.log1p(-p)),
                          (rating_mean + out - y).square())
        loss = ((err * m).sum(0) / m.sum(0).clamp_min(1.0)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach() * b
    return float(total) / max(n, 1)
