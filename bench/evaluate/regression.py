"""Rating error of a ranking model's scores (cross-domain kinds, where the target test rows carry
ratings, e.g. MovieLens genre pairs): ``mae`` and ``rmse`` of an affine read-out
``r = a + b * score`` whose two coefficients are fitted by least squares on the VALIDATION pairs.
The methods learn from implicit feedback, so this measures how well each method's scores track
ratings after one shared calibration; it is not the explicit-rating regression of the EMCDR/PTUPCDR
papers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.errors import MethodError

__all__ = ["RATING_READOUT", "has_ratings", "pair_scores", "rating_readout"]

RATING_READOUT = "affine read-out of scores fitted on validation pairs (least squares)"


def has_ratings(frame: pd.DataFrame) -> bool:
    return len(frame) > 0 and "rating" in frame.columns and bool(np.isfinite(frame["rating"].to_numpy(float)).all())


def pair_scores(model, frame: pd.DataFrame, batch_size: int) -> np.ndarray:
    """Scores of the frame's (user, local item) pairs, scoring each distinct user once."""
    users = frame["user"].to_numpy(np.int64)
    items = frame["item"].to_numpy(np.int64)
    uniq, inverse = np.unique(users, return_inverse=True)
    out = np.empty(len(frame), dtype=np.float64)
    for start in range(0, uniq.size, batch_size):
        batch = uniq[start : start + batch_size]
        s = np.asarray(model.score(batch), dtype=np.float64)
        sel = np.flatnonzero((inverse >= start) & (inverse < start + batch.size))
        out[sel] = s[inverse[sel] - start, items[sel]]
    if not np.isfinite(out).all():
        raise MethodError("non-finite scores for rating read-out")
    return out


def rating_readout(model, valid: pd.DataFrame, test: pd.DataFrame, evaluation):
    sv = pair_scores(model, valid, evaluation.batch_size)
    rv = valid["rating"].to_numpy(np.float64)
    design = np.column_stack([np.ones_like(sv), sv])
    coef, *_ = np.linalg.lstsq(design, rv, rcond=None)
    st = pair_scores(model, test, evaluation.batch_size)
    err = coef[0] + coef[1] * st - test["rating"].to_numpy(np.float64)
    frame = pd.DataFrame({"user": test["user"].to_numpy(np.int64), "ae": np.abs(err), "se": err**2})
    g = frame.groupby("user", sort=True).mean()
    per_user = pd.DataFrame({"user": g.index.to_numpy(), "mae": g["ae"].to_numpy(), "rmse": np.sqrt(g["se"].to_numpy())})
    summary = {"mae": float(np.abs(err).mean()), "rmse": float(np.sqrt((err**2).mean()))}
    return per_user, summary, (float(coef[0]), float(coef[1]))
