"""recxbench's MMoE and ESMM side by side with torch-rechub's on the same work (issue 18).

torch-rechub is a peer, never a dependency: ``make bench-env`` creates ``.venv-bench`` (it sees
``.venv``'s packages through a ``.pth`` file and adds the peer pinned in
``benchmarks/requirements-peers.txt``); run ``.venv-bench/bin/python -m pytest
benchmarks/test_bench_peers.py --benchmark-only -s``. Without torch-rechub the module is skipped.

Same work, one run: the same ML-1M MTL training rows (fixture ``ml1m_mtl_train``), one epoch, batch
2048, Adam (lr 2e-3, weight decay 1e-6, fused kernel for both), one thread. torch-rechub's models get
the same inputs as ours (user id, item id and each demographic field as ``SparseFeature``\\ s of
dimension 16, the genres as a ``SequenceFeature`` with mean pooling) and are trained by a loop that
does per batch what ours does (masked BCE per binary task, masked squared error for the rating);
its batches are gathered from tensors prepared once, so the loop adds no data-loading cost of its
own. Architecture: MMoE with 4 experts of widths [64, 32] and one [16] tower per task (click,
like, ctcvr, rating) in both; torch-rechub's ``MLP`` puts a BatchNorm after every hidden layer (its
design). ESMM: torch-rechub's has a CTR and a CVR tower ([64, 32, 16]) and no rating tower; ours
also trains a rating tower, so ours does more work. ``extra_info`` records rows/s and the ratio
recxbench / torch-rechub (target: at least 1).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench import methods
from bench.multitask import BINARY_TASKS, TASKS
from methods import _torch as T

rechub = pytest.importorskip("torch_rechub", reason="torch-rechub is installed only by `make bench-env`")
from torch_rechub.basic.features import SequenceFeature, SparseFeature  # noqa: E402
from torch_rechub.models.multi_task import ESMM, MMOE  # noqa: E402

DIM = 16
BATCH = 2048
_RATES: dict[str, float] = {}


def _inputs(data) -> tuple[dict[str, torch.Tensor], list, list]:
    """torch-rechub's input dict for every row, its user features and its item features."""
    cols = {"user_id": data.user_id, "item_id": data.item_id}
    cols |= {f"field_{j}": data.user_fields[:, j] for j in range(data.user_fields.shape[1])}
    x = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.int64)) for k, v in cols.items()}
    sizes = {"user_id": data.n_user_ids, "item_id": data.n_item_ids}
    sizes |= {f"field_{j}": s for j, s in enumerate(data.field_sizes)}
    user = [SparseFeature(k, sizes[k], embed_dim=DIM) for k in cols if k != "item_id"]
    item = [SparseFeature("item_id", sizes["item_id"], embed_dim=DIM)]
    g = data.item_genres > 0
    width = max(int(g.sum(1).max()), 1)
    genres = np.zeros((len(data), width), dtype=np.int64)  # genre index + 1, 0 = padding
    rank = np.cumsum(g, axis=1) - 1
    rows, cols_ = np.nonzero(g)
    genres[rows, rank[rows, cols_]] = cols_ + 1
    x["genres"] = torch.from_numpy(genres)
    item.append(SequenceFeature("genres", g.shape[1] + 1, embed_dim=DIM, pooling="mean", padding_idx=0))
    return x, user, item


def _train_epoch(model, x, data, outputs: dict[str, int], seed: int = 0) -> None:
    """One epoch of ``model`` (output column ``outputs[task]`` per trained task) with our per-batch
    objective: masked BCE for binary tasks, masked squared error (around the training mean) for the
    rating."""
    gen = torch.Generator().manual_seed(seed)
    labels = {t: torch.from_numpy(data.labels[t].astype(np.float32)) for t in outputs}
    masks = {t: torch.from_numpy(data.masks[t].astype(np.float32)) for t in outputs}
    mean = float(data.labels["rating"][data.masks["rating"]].mean())
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-6, fused=True)
    model.train()
    perm = torch.randperm(len(data), generator=gen)
    for start in range(0, len(data), BATCH):
        idx = perm[start:start + BATCH]
        out = model({k: v[idx] for k, v in x.items()})
        loss = out.new_zeros(())
        for task, col in outputs.items():
            y, m, p = labels[task][idx], masks[task][idx], out[:, col]
            if task in BINARY_TASKS:
                err = F.binary_cross_entropy(p.clamp(1e-7, 1 - 1e-7), y, reduction="none")
            else:
                err = (mean + p - y).square()
            loss = loss + (err * m).sum() / m.sum().clamp_min(1.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def _rate(benchmark, n: int, fn) -> float:
    with T.num_threads(1):
        benchmark.pedantic(fn, rounds=2, iterations=1)
    rate = n / benchmark.stats.stats.min
    benchmark.extra_info.update(rows=n, rows_per_second=rate, load_avg_1min=os.getloadavg()[0])
    return rate


@pytest.mark.parametrize("name", ["mmoe", "esmm"])
def test_recxbench(benchmark, ml1m_mtl_train, name):
    model = methods.build(name, {"epochs": 1, "device": "cpu", "num_threads": 1})
    _RATES[name] = _rate(benchmark, len(ml1m_mtl_train),
                         lambda: model.fit(ml1m_mtl_train, rng=np.random.default_rng(0), valid=None))
    print(f"recxbench {name}: {_RATES[name]:,.0f} rows/s")


@pytest.mark.parametrize("name", ["mmoe", "esmm"])
def test_torch_rechub(benchmark, ml1m_mtl_train, name):
    data = ml1m_mtl_train
    x, user, item = _inputs(data)
    torch.manual_seed(0)
    if name == "mmoe":
        def build():
            return MMOE(user + item, ["classification"] * 3 + ["regression"], n_expert=4,
                        expert_params={"dims": [64, 32]}, tower_params_list=[{"dims": [16]}] * 4)
        outputs = {t: TASKS.index(t) for t in TASKS}
    else:
        def build():
            tower = {"dims": [64, 32, 16]}
            return ESMM(user, item, cvr_params=tower, ctr_params=tower)
        outputs = {"click": 1, "ctcvr": 2}  # its outputs: cvr, ctr, ctcvr
    rate = _rate(benchmark, len(data), lambda: _train_epoch(build(), x, data, outputs))
    benchmark.extra_info["torch_rechub_version"] = rechub.__version__
    line = f"torch-rechub {name}: {rate:,.0f} rows/s"
    if name in _RATES:
        benchmark.extra_info["recxbench_over_torch_rechub"] = _RATES[name] / rate
        line += f"; recxbench / torch-rechub = {_RATES[name] / rate:.2f}"
    print(line)
