"""Training speed of the multi-task methods: one epoch of ``mmoe`` over the ML-100K MTL training set,
and training throughput (rows/s) of ``shared_bottom`` / ``mmoe`` / ``ple`` on ML-1M impressions side by
side with a bare torch loop of the same MMoE architecture (:mod:`benchmarks.bare_mmoe`).

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_mtl.py --benchmark-only
--benchmark-min-rounds=1`` (not part of ``make test``). Needs the offline mirror
(``RECX_DATA_MIRROR``, default ``../shared/datasets``): ml-100k is fetched, prepared and split with the
default ``mtl`` settings (2 sampled impressions per rating: ~239k training impressions) into a
temporary folder.

ML-1M: the default ``mtl`` split of ML-1M (2 sampled impressions per rating, ~2.4M training rows)
built in a temporary folder; each measurement trains one epoch over the same fixed
``ML1M_ROWS`` of them (drawn once, seed 0; fixture ``ml1m_mtl_train`` in ``conftest.py``), one thread. ``extra_info`` holds rows/s and, for the
bare loop, the ratio of mmoe's rows/s to it (the target: at least 0.9).

One round = ``fit`` with ``epochs=1`` and no validation: building the network plus one pass of
mini-batch Adam (batch 2048, default architecture) over every training impression. The torch thread
count and the 1-minute load average are recorded in ``extra_info``, since other processes may be
using the cores.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from bench import methods
from bench.config import MTLScenario
from bench.multitask import mtl_data, mtl_vocab
from bench.splits.build import build_split
from methods import _torch as T

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ml100k_train(tmp_path_factory):
    from bench.data.fetch import fetch_dataset
    from bench.data.prepare import PrepareOptions, prepare_dataset

    mirror = Path(os.environ.get("RECX_DATA_MIRROR") or REPO.parent / "shared" / "datasets").resolve()
    if not (mirror / "ml-100k" / "u.data").exists():
        pytest.skip(f"no ml-100k in the dataset mirror {mirror}; set RECX_DATA_MIRROR")
    tmp = tmp_path_factory.mktemp("ml100k")
    lock = tmp / "checksums.lock"
    shutil.copy(REPO / "datasets" / "checksums.lock", lock)
    sources = REPO / "datasets" / "sources.yaml"
    fetch_dataset("ml-100k", sources=sources, out=tmp / "raw", mirror=mirror, lock=lock, progress=False)
    prepare_dataset("ml-100k", sources=sources, raw=tmp / "raw", out=tmp / "prepared",
                    options=PrepareOptions(), lock=lock)
    split = build_split(MTLScenario(name="ml100k-mtl", dataset="ml-100k"), prepared=tmp / "prepared", out=tmp / "split")
    return mtl_data(split, "train", mtl_vocab(split))


def test_mmoe_one_epoch_ml100k(benchmark, ml100k_train):
    model = methods.build("mmoe", {"epochs": 1, "device": "cpu"})
    benchmark.extra_info.update(
        rows=len(ml100k_train), torch_threads=torch.get_num_threads(), load_avg_1min=os.getloadavg()[0]
    )
    benchmark.pedantic(
        lambda: model.fit(ml100k_train, rng=np.random.default_rng(0), valid=None), rounds=3, iterations=1
    )
    assert model.training_log_.epochs_run == 1


_RATES: dict[str, float] = {}


@pytest.mark.parametrize("name", ["shared_bottom", "mmoe", "ple"])
def test_mtl_rows_per_second_ml1m(benchmark, ml1m_mtl_train, name):
    model = methods.build(name, {"epochs": 1, "device": "cpu", "num_threads": 1})
    benchmark.pedantic(
        lambda: model.fit(ml1m_mtl_train, rng=np.random.default_rng(0), valid=None), rounds=2, iterations=1
    )
    _RATES[name] = len(ml1m_mtl_train) / benchmark.stats.stats.min
    benchmark.extra_info.update(rows=len(ml1m_mtl_train), rows_per_second=_RATES[name],
                                load_avg_1min=os.getloadavg()[0])
    print(f"{name}: {_RATES[name]:,.0f} rows/s")


def test_bare_torch_mmoe_rows_per_second_ml1m(benchmark, ml1m_mtl_train):
    """The same MMoE architecture and work as ``mmoe`` above in a hand-written loop."""
    from benchmarks.bare_mmoe import bare_mmoe_epoch

    with T.num_threads(1):
        benchmark.pedantic(lambda: bare_mmoe_epoch(ml1m_mtl_train), rounds=2, iterations=1)
    rate = len(ml1m_mtl_train) / benchmark.stats.stats.min
    benchmark.extra_info.update(rows=len(ml1m_mtl_train), rows_per_second=rate, load_avg_1min=os.getloadavg()[0])
    if "mmoe" in _RATES:
        benchmark.extra_info["mmoe_over_bare"] = _RATES["mmoe"] / rate
        print(f"bare torch mmoe: {rate:,.0f} rows/s; recxbench mmoe / bare = {_RATES['mmoe'] / rate:.2f}")
