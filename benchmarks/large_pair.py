"""Wall time and peak memory of the ``pair`` and ``split`` stages for a large Amazon category pair.

    .venv/bin/python benchmarks/large_pair.py                       # Movies_and_TV x CDs_and_Vinyl shape
    .venv/bin/python benchmarks/large_pair.py --scale 0.01 --out /tmp/pair.json

The ``large`` profile's transfer scenario joins two Amazon 2018 5-core categories (``pair@`` stage,
:func:`bench.splits.cdr_pairs.build_pair`) and splits the pair with the warm protocol
(``cdr_warm``, ``leave_one_out``, 99 saved negatives per test user). Neither category is in the
offline mirror, so two prepared categories of that shape are GENERATED (the ``generate`` stage):
Movies_and_TV 5-core, about 3.41M reviews by 297,529 users of 60,175 items, and CDs_and_Vinyl,
about 1.44M reviews by 112,395 users of 64,443 items (the release page's 5-core counts), with
:data:`SHARED_USERS` of the smaller category's users also in the larger one, log-normal item
popularity and per-user activity of at least 5 (the 5-core floor). They are written as
``datasets/prepared/<name>`` folders exactly as ``prepare`` writes them (integer codes, string raw
ids), so the two measured stages run the real library code on files of the real layout:

* ``pair`` -- :func:`~bench.splits.cdr_pairs.build_pair` with the ``large`` profile's pair settings
  (read from ``profiles/large.yaml``);
* ``split`` -- :func:`bench.splits.build.build_split` of the profile's ``cdr_warm`` scenario
  (leave-one-out on the target, saved candidates, leakage audit, Parquet + manifest).

Each runs in its own process; its peak RSS is the kernel's high-water mark of that process
(:func:`benchmarks.large_data.run_child`). Results: ``benchmarks/results/large-pair.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # pragma: no cover - when run as a script
    sys.path.insert(0, str(REPO))

#: (name, reviews, users, items) of the two categories at scale 1 (the Amazon 2018 5-core counts)
CATEGORIES = (("movies", 3_410_019, 297_529, 60_175), ("cds", 1_443_755, 112_395, 64_443))
#: share of the second (smaller) category's users that also review in the first
SHARED_USERS = 0.5
STAGES = ("generate", "pair", "split")


def generate(scratch: Path, scale: float, seed: int) -> dict[str, Any]:
    """Write the two prepared categories under ``scratch/prepared``; their sizes."""
    import numpy as np
    import pandas as pd

    from bench.data.tables import PreparedDataset

    rng = np.random.default_rng(seed)
    (_, _, big_users, _), (_, _, small_users, _) = CATEGORIES
    n_big, n_small = max(int(big_users * scale), 10), max(int(small_users * scale), 10)
    shared = int(n_small * SHARED_USERS)
    raw_big = np.arange(n_big)  # raw ids: the first `shared` small-category users are big-category users
    raw_small = np.concatenate([rng.choice(n_big, shared, replace=False), n_big + np.arange(n_small - shared)])
    out = {}
    for (name, reviews, _, items), raw in zip(CATEGORIES, (raw_big, raw_small)):
        n_users, n_items, rows = raw.size, max(int(items * scale), 20), max(int(reviews * scale), 100)
        extra = rng.lognormal(0.0, 1.2, n_users)
        per_user = 5 + np.floor(extra / extra.sum() * max(rows - 5 * n_users, 0)).astype(np.int64)
        per_user = np.minimum(per_user, n_items)
        user = np.repeat(np.arange(n_users, dtype=np.int64), per_user)
        weight = rng.lognormal(0.0, 1.5, n_items)
        item = rng.choice(n_items, user.size, p=weight / weight.sum())
        pairs = np.unique(user * n_items + item)  # one review per (user, item), sorted by user
        user, item = pairs // n_items, pairs % n_items
        data = PreparedDataset(
            name=f"amazon2018-{name}",
            interactions=pd.DataFrame({
                "user": user.astype(np.int32), "item": item.astype(np.int32),
                "rating": rng.integers(1, 6, user.size).astype(np.float32),
                "timestamp": rng.integers(1_400_000_000, 1_540_000_000, user.size),
                "domain": pd.Series(f"amazon2018-{name}", index=range(user.size), dtype="string"),
            }),
            users=pd.DataFrame({"user": np.arange(n_users, dtype=np.int32),
                                "user_id": np.char.add("A", raw.astype(str))}),
            items=pd.DataFrame({"item": np.arange(n_items, dtype=np.int32),
                                "item_id": np.char.add(f"{name[0].upper()}", np.arange(n_items).astype(str))}),
            stats={"n_interactions": int(user.size)},
        )
        data.write(scratch / "prepared" / data.name)
        out[name] = {"rows": int(user.size), "users": int(n_users), "items": int(n_items)}
    out["shared_users"] = shared
    return out


#: the pair and the scenario of ``profiles/large.yaml`` that are measured (settings read from there)
PAIR, SCENARIO = "amazon2018-movies-cds", "amazon-movies-cds-warm"


def _profile():
    from bench.config import load_params

    return load_params(REPO / "profiles" / "large.yaml")


def _spec():
    """The large profile's pair, with its two categories renamed to the generated folders."""
    from dataclasses import replace

    return replace(_profile().pair(PAIR), first="amazon2018-movies", second="amazon2018-cds")


def _scenario():
    return _profile().scenario(SCENARIO)


def run_stage(name: str, scratch: Path, scale: float, seed: int) -> dict[str, Any]:
    """One stage in this process: its wall seconds, RSS before its work, and what it produced."""
    import psutil

    if name == "generate":
        before, t0 = psutil.Process().memory_info().rss, time.perf_counter()
        details = generate(scratch, scale, seed)
    elif name == "pair":
        from bench.splits.cdr_pairs import build_pair

        before, t0 = psutil.Process().memory_info().rss, time.perf_counter()
        data = build_pair(PAIR, _spec(), first=scratch / "prepared/amazon2018-movies",
                          second=scratch / "prepared/amazon2018-cds", out=scratch / "prepared" / PAIR)
        details = {k: data.stats[k] for k in ("n_users", "n_items", "n_interactions")}
    else:
        from bench.splits.build import build_split

        before, t0 = psutil.Process().memory_info().rss, time.perf_counter()
        split = build_split(_scenario(), prepared=scratch / "prepared" / PAIR, out=scratch / "splits" / SCENARIO)
        details = {part: int(len(getattr(split, part))) for part in ("train", "valid", "test")}
    return {"seconds": round(time.perf_counter() - t0, 2), "rss_before_mb": round(before / 2**20, 1),
            "details": details}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the real categories' size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, help="scratch folder to keep (default: temporary)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/large-pair.json")
    ap.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # the child's entry point
    ap.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.stage:
        result = run_stage(args.stage, args.scratch, args.scale, args.seed)
        result["peak_rss_self_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        (args.scratch / f"stage-{args.stage}.json").write_text(json.dumps(result))
        return 0

    import tempfile

    from bench.provenance import git_commit
    from benchmarks.large_data import _machine, run_child

    scratch = args.keep or Path(tempfile.mkdtemp(prefix="recx-large-pair-"))
    scratch.mkdir(parents=True, exist_ok=True)
    stages = {}
    for name in STAGES:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", name, "--scratch", str(scratch),
               "--scale", str(args.scale), "--seed", str(args.seed)]
        stages[name] = run_child(cmd, scratch / f"stage-{name}.json")
        s = stages[name]
        print(f"{name:<9} {s['status']:<7} {s.get('seconds', float('nan')):>8.1f} s  peak {s['peak_rss_mb']:>8.1f} MB",
              flush=True)
        if s["status"] != "ok":
            break
    result = {"scale": args.scale, "seed": args.seed, "categories": CATEGORIES, "shared_users": SHARED_USERS,
              "pair": {k: v for k, v in vars(_spec()).items() if k.startswith("min_")}, "scenario": SCENARIO,
              "stages": stages, "machine": _machine(), "git": git_commit(REPO)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(s["status"] == "ok" for s in stages.values()) and len(stages) == len(STAGES) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
