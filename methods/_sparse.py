"""Sparse products on the device, for every method that multiplies by a constant sparse matrix:
``multvae``'s sparse input rows, and the graph methods' adjacencies (``lightgcn``, ``bitgcf``,
``conet``, ``disencdr``) once ``wip/batch-b-cdr-rule.patch`` lands.

* :func:`sparse_tensor` — a scipy matrix as a torch sparse CSR tensor (float32) on the device;
* :func:`sparse_mm` — ``A @ X`` into a fresh tensor, without the zero-filled output of
  ``torch.sparse.mm``;
* :class:`SpMM` — ``A @ X`` differentiable in ``X`` through a precomputed transpose ``At``
  (torch's own backward transposes ``A`` on every step, or densifies it for CSR inputs).

``methods/_cdr.py`` (the transfer methods) and ``methods/lightgcn.py`` still hold their own copies:
removing them changes the code fingerprints of the transfer cells (``bitgcf`` imports from
``lightgcn``), so that goes with the transfer rerun that ``wip/batch-b-cdr-rule.patch`` needs (the
patch replaces both copies by imports from here; ``lightgcn``'s factors stay bit-identical).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["SpMM", "sparse_mm", "sparse_tensor"]


def sparse_tensor(m: sp.spmatrix, device: torch.device) -> torch.Tensor:
    """A scipy matrix as a torch sparse CSR tensor (float32) on ``device``."""
    m = sp.csr_matrix(m, dtype=np.float32)
    m.sort_indices()
    with warnings.catch_warnings():  # "sparse CSR support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(m.indptr.astype(np.int64)),
            torch.from_numpy(m.indices.astype(np.int64)),
            torch.from_numpy(m.data.astype(np.float32)),
            size=m.shape,
            device=device,
            check_invariants=False,
        )


def sparse_mm(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``A @ X`` for a sparse CSR ``A`` into a fresh tensor: ``torch.sparse.mm`` first fills a zero
    matrix and copies it into the result, which on CPU costs as much as the product itself."""
    out = x.new_empty((a.shape[0], x.shape[1]))
    return torch.addmm(out, a, x, beta=0, out=out)


class SpMM(torch.autograd.Function):
    """``A @ X`` for a constant sparse ``A`` with its transpose ``At`` precomputed (backward
    ``At @ G``), avoiding torch's transposition of ``A`` on every step."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, a: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
        ctx.at = at
        return sparse_mm(a, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return sparse_mm(ctx.at, grad.contiguous()), None, None
