"""Synthetic two-domain data for the CDR tests: users share latent factors across domains, so what a
user does in the source predicts what they do in the target."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.contract import cdr_data, latent_domains
from bench.data.tables import PreparedDataset

__all__ = ["cdr_data", "latent_domains", "prepared_pair"]


def prepared_pair(n_users: int = 60, n_s: int = 30, n_t: int = 25, given: bool = True, seed: int = 0) -> PreparedDataset:
    """A two-domain prepared dataset (domains ``src`` and ``tgt``, items ``0..n_s-1`` then target),
    with ratings and timestamps; with ``given`` a DisenCDR-like ``given_split`` (one target and one
    source test row per user, the rest train)."""
    src, tgt = latent_domains(n_users, n_s, n_t, per_user=8, seed=seed)
    rng = np.random.default_rng(seed)
    frames = []
    for d, (items, offset) in enumerate(((src, 0), (tgt, n_s))):
        users = np.repeat(np.arange(n_users), items.shape[1])
        frame = pd.DataFrame(
            {
                "user": users.astype(np.int32),
                "item": (items.ravel() + offset).astype(np.int32),
                "rating": rng.integers(1, 6, users.size).astype(np.float32),
                "timestamp": (np.tile(np.arange(items.shape[1]), n_users) * 10 + d).astype(np.int64),
                "domain": ["src", "tgt"][d],
            }
        )
        if given:
            frame["given_split"] = np.where(np.tile(np.arange(items.shape[1]), n_users) == 0, "test", "train")
        frames.append(frame)
    inter = pd.concat(frames, ignore_index=True)
    inter["domain"] = inter["domain"].astype("string")
    items = pd.DataFrame(
        {
            "item": np.arange(n_s + n_t, dtype=np.int32),
            "item_id": [str(i) for i in range(n_s + n_t)],
            "domain": ["src"] * n_s + ["tgt"] * n_t,
        }
    )
    users = pd.DataFrame({"user": np.arange(n_users, dtype=np.int32), "user_id": [str(u) for u in range(n_users)]})
    return PreparedDataset(name="pair", interactions=inter, users=users, items=items, stats={})
