"""TREC-format exports so anyone can re-score the rankings with trec_eval or ranx.

``reports/trec/<scenario>/qrels.txt``: ``<user> 0 <item> 1`` for every test interaction of the
evaluated users. ``reports/trec/<scenario>/<method>.seed<seed>.run``: ``<user> Q0 <item> <rank>
<score> <method>`` for the first ``depth`` items of each user's saved top-K list, with score
``depth - rank + 1`` (the ranking itself is what was evaluated; scores only encode the order).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_qrels", "write_run"]


def write_qrels(test: pd.DataFrame, users: np.ndarray, path: Path) -> Path:
    rows = test[test["user"].isin(users)].sort_values(["user", "item"])
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (rows["user"].astype(str) + " 0 " + rows["item"].astype(str) + " 1").tolist()
    path.write_text("\n".join(lines) + "\n")
    return path


def write_run(topk: pd.DataFrame, method: str, depth: int, path: Path) -> Path:
    rows = topk[(topk["rank"] <= depth) & (topk["item"] >= 0)].sort_values(["user", "rank"])
    score = (depth - rows["rank"].astype(int) + 1).astype(str)
    lines = (
        rows["user"].astype(str) + " Q0 " + rows["item"].astype(str) + " "
        + rows["rank"].astype(str) + " " + score + " " + method
    ).tolist()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
