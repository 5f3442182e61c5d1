"""Beyond-accuracy metrics of top-K lists: catalogue coverage and popularity bias (ARP).

Both read the ranked item ids ``topk: (n_users, K)`` produced by :func:`bench.evaluate.topk`;
padding entries (``-1``) are ignored. Slice ``topk[:, :k]`` for a cut-off ``k``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["arp", "catalogue_coverage", "item_popularity"]


def item_popularity(train: sp.spmatrix) -> np.ndarray:
    """Popularity of every item: its number of training interactions divided by the number of users.

    ``train`` is the ``n_users x n_items`` training matrix (any stored entry counts as one
    interaction). Returns a float64 vector of length ``n_items`` with values in ``[0, 1]`` for
    de-duplicated data.
    """
    m = sp.csr_matrix(train)
    counts = np.bincount(m.indices, minlength=m.shape[1]).astype(np.float64)
    return counts / max(m.shape[0], 1)


def catalogue_coverage(topk: np.ndarray, n_items: int) -> float:
    """Fraction of the ``n_items`` catalogue recommended to at least one user (aggregate diversity,
    Adomavicius & Kwon, 2012)."""
    topk = np.asarray(topk)
    if n_items <= 0:
        raise ValueError(f"n_items must be positive, got {n_items}")
    items = topk[(topk >= 0) & (topk < n_items)]
    return float(np.count_nonzero(np.bincount(items, minlength=n_items))) / n_items


def arp(topk: np.ndarray, popularity: np.ndarray) -> np.ndarray:
    """Average Recommendation Popularity per user (Abdollahpouri et al., 2019): mean
    ``popularity[item]`` over the user's recommended (non-padding) items; 0 for an empty list.

    ``popularity`` is e.g. :func:`item_popularity` of the training data. Lower means less
    popularity-biased recommendations.
    """
    topk = np.asarray(topk)
    popularity = np.asarray(popularity, dtype=np.float64)
    valid = (topk >= 0) & (topk < popularity.size)
    pop = np.where(valid, popularity[np.where(valid, topk, 0)], 0.0)
    n = valid.sum(axis=1)
    out = np.zeros(topk.shape[0], dtype=np.float64)
    np.divide(pop.sum(axis=1), n, out=out, where=n > 0)
    return out
