"""Training speed of the multi-task methods: one epoch of ``mmoe`` over the ML-100K MTL training set.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_mtl.py --benchmark-only
--benchmark-min-rounds=1`` (not part of ``make test``). Needs the offline mirror
(``RECX_DATA_MIRROR``, default ``../shared/datasets``): ml-100k is fetched, prepared and split with the
default ``mtl`` settings (2 sampled impressions per rating: ~239k training impressions) into a
temporary folder.

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
