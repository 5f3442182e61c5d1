"""Throughput and memory of full-ranking evaluation at MovieLens-1M and -20M sizes.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_evaluate.py --benchmark-only
--benchmark-min-rounds=1`` (not part of ``make test``; ``make bench`` runs it).

Each case scores ALL users against ALL items with a realistic scorer (random low-rank float32
factors, dimension 64, one matmul per batch, like a fitted MF model), excludes a random sparse
training mask, keeps the top 100 and computes the six ranking metrics at k = 5, 10, 20 plus ARP and
coverage -- i.e. what the ``run`` stage does through :func:`bench.evaluate.evaluate_topn`. Peak RSS
(sampled during the call, and the process high-water mark) is recorded in ``extra_info``. Timings
depend on the cores available: the torch thread count and the 1-minute load average are recorded
too, since other processes may be using the cores.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import psutil
import pytest
import scipy.sparse as sp

from bench.evaluate import evaluate_topn
from bench.metrics import item_popularity

SIZES = {
    # name: (n_users, n_items, training-mask density, test items per user)
    "ml-1m": (6_040, 3_706, 0.01, 10),
    "ml-20m": (138_000, 27_000, 0.005, 10),
}
BATCH_SIZE = 1024
DIM = 64


def random_mask(
    n_users: int, n_items: int, per_user: float, rng: np.random.Generator
) -> sp.csr_matrix:
    """A random binary CSR matrix with Poisson(per_user) entries per row, built directly from
    ``indptr`` / ``indices`` (no COO sort, no dense intermediate); duplicate ids are removed."""
    counts = rng.poisson(per_user, n_users)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = rng.integers(0, n_items, indptr[-1], dtype=np.int32)
    data = np.ones(indices.size, dtype=np.float32)
    m = sp.csr_matrix((data, indices, indptr), (n_users, n_items))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


class LowRankScorer:
    """Stands in for a fitted MF model: ``score(users) = U[users] @ V.T`` in float32."""

    method_name = "lowrank"

    def __init__(self, n_users: int, n_items: int, rng: np.random.Generator):
        self.user_factors_ = rng.standard_normal((n_users, DIM), dtype=np.float32)
        self.item_factors_t_ = np.ascontiguousarray(
            rng.standard_normal((n_items, DIM), dtype=np.float32).T
        )

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors_[users] @ self.item_factors_t_


@contextmanager
def peak_rss(interval: float = 0.005) -> Iterator[dict[str, float]]:
    """Sample this process's RSS in a background thread; yields a dict filled on exit."""
    proc = psutil.Process()
    result = {"rss_before_mb": proc.memory_info().rss / 2**20, "peak_rss_sampled_mb": 0.0}
    stop = threading.Event()

    def sample() -> None:
        peak = 0
        while not stop.is_set():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(interval)
        result["peak_rss_sampled_mb"] = max(peak, proc.memory_info().rss) / 2**20

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("size", list(SIZES))
def test_evaluate_all_users(benchmark, size):
    import torch

    n_users, n_items, density, n_test = SIZES[size]
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    train = random_mask(n_users, n_items, density * n_items, rng)
    truth = random_mask(n_users, n_items, n_test, rng)
    truth = (truth - truth.multiply(train)).tocsr()  # test items are never training items
    truth.eliminate_zeros()
    method = LowRankScorer(n_users, n_items, rng)
    popularity = item_popularity(train)
    setup_s = time.perf_counter() - t0
    users = np.flatnonzero(np.diff(truth.indptr) > 0)

    def run():
        return evaluate_topn(
            method, users=users, exclude=train, truth=truth, ks=(5, 10, 20),
            metrics=("recall", "precision", "hr", "ndcg", "mrr", "map"), batch_size=BATCH_SIZE,
            item_popularity=popularity, topk_saved=100,
        )

    with peak_rss() as mem:
        if size == "ml-1m":
            result = benchmark(run)
        else:  # one round is ~tens of seconds
            result = benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)

    assert result.topk.shape == (users.size, 100)
    assert 0.0 <= result.summary()["ndcg@10"] <= 1.0
    score_buffer_mb = BATCH_SIZE * n_items * 4 / 2**20
    benchmark.extra_info.update(
        n_users=n_users, n_items=n_items, train_nnz=int(train.nnz), batch_size=BATCH_SIZE,
        setup_seconds=round(setup_s, 2), score_batch_mb=round(score_buffer_mb, 1),
        torch_threads=torch.get_num_threads(), cpu_count=os.cpu_count(),
        loadavg_1min=round(os.getloadavg()[0], 2),
        **{k: round(v, 1) for k, v in mem.items()},
        peak_rss_increase_mb=round(mem["peak_rss_sampled_mb"] - mem["rss_before_mb"], 1),
    )
