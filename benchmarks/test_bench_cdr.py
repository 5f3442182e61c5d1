"""Training speed of the cross-domain methods: ONE epoch of ``disencdr`` and of ``bitgcf`` on the
DisenCDR phone -> electronic pair (3,325 users; 17,709 phone and 38,706 electronic items; 165,961
training interactions).

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_cdr.py --benchmark-only
--benchmark-min-rounds=1`` (not part of ``make test``). Needs the offline mirror
(``RECX_DATA_MIRROR``, default ``../shared/datasets``): the pair is fetched, prepared and split
(``cdr_warm``, split ``given``) into a temporary folder.

One round = ``fit`` with ``epochs=1``, no warm-up and no validation: building the sparse graphs and
the model plus one pass over every source and target training pair (default batch size and
architecture). The torch thread count and the 1-minute load average are recorded in ``extra_info``,
since other processes may be using the cores.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from bench import methods
from bench.cdr import CDRData
from bench.config import CDRWarmScenario
from bench.splits.build import build_split

REPO = Path(__file__).resolve().parents[1]
DATASET = "disencdr-phone-electronic"


@pytest.fixture(scope="module")
def phone_electronic(tmp_path_factory) -> CDRData:
    from bench.data.fetch import fetch_dataset
    from bench.data.prepare import PrepareOptions, prepare_dataset

    mirror = Path(os.environ.get("RECX_DATA_MIRROR") or REPO.parent / "shared" / "datasets").resolve()
    if not (mirror / "amazon-cdr-disencdr" / "phone_electronic" / "train.txt").exists():
        pytest.skip(f"no DisenCDR phone_electronic in the dataset mirror {mirror}; set RECX_DATA_MIRROR")
    tmp = tmp_path_factory.mktemp("cdr")
    lock = tmp / "checksums.lock"
    if (REPO / "datasets" / "checksums.lock").exists():
        shutil.copy(REPO / "datasets" / "checksums.lock", lock)
    sources = REPO / "datasets" / "sources.yaml"
    fetch_dataset(DATASET, sources=sources, out=tmp / "raw", mirror=mirror, lock=lock, progress=False)
    prepare_dataset(DATASET, sources=sources, raw=tmp / "raw", out=tmp / "prepared", options=PrepareOptions(), lock=lock)
    scenario = CDRWarmScenario(name="pe-warm", dataset=DATASET, source="phone", target="electronic")
    return CDRData.from_split(build_split(scenario, prepared=tmp / "prepared", out=tmp / "split"))


@pytest.mark.parametrize("name", ["disencdr", "bitgcf"])
def test_one_epoch_phone_electronic(benchmark, phone_electronic, name):
    params = {"epochs": 1, "device": "cpu"}
    if name == "disencdr":
        params["warmup_epochs"] = 0
    model = methods.build(name, params)
    data = phone_electronic
    benchmark.extra_info.update(
        pairs=int(data.source.nnz + data.target.nnz), users=data.n_users,
        torch_threads=model.config.num_threads or torch.get_num_threads(), load_avg_1min=os.getloadavg()[0],
    )
    benchmark.pedantic(lambda: model.fit(data, rng=np.random.default_rng(0), valid=None), rounds=3, iterations=1)
    assert model.training_log_.epochs_run == 1
