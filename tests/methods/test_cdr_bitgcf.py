"""BiTGCF propagation over the two adjacency blocks equals the textbook form: layers of
``E <- A E`` on the stacked ``[users; items]`` matrix with the user-row transfer after every layer,
averaged over layers."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from methods.cdr_bitgcf import _Bipartite, _BiTGCF
from methods.lightgcn import normalized_adjacency


def _reference(ego_s, ego_t, a_s, a_t, lam_s, lam_t, n, n_layers):
    def transfer(xs, xt):
        us, ut = xs[:n], xt[:n]
        return (torch.cat([lam_s * us + (1 - lam_s) * ut, xs[n:]]),
                torch.cat([lam_t * ut + (1 - lam_t) * us, xt[n:]]))

    xs, xt = transfer(ego_s, ego_t)
    total_s, total_t = xs, xt
    for _ in range(n_layers):
        xs, xt = transfer(a_s @ xs, a_t @ xt)
        total_s, total_t = total_s + xs, total_t + xt
    return total_s / (n_layers + 1), total_t / (n_layers + 1)


def test_block_propagation_equals_stacked_adjacency_propagation():
    rng = np.random.default_rng(3)
    n, n_s, n_t, dim = 30, 25, 18, 8
    m_s = sp.csr_matrix((rng.random((n, n_s)) < 0.15).astype(np.float32))
    dense_t = (rng.random((n, n_t)) < 0.2).astype(np.float32)
    dense_t[:5] = 0  # cold-start users: no target rows
    m_t = sp.csr_matrix(dense_t)
    gen = torch.Generator().manual_seed(0)
    model = _BiTGCF(n, n_s, n_t, dim, 0.1, torch.device("cpu"), gen)
    deg_s, deg_t = np.diff(m_s.indptr), np.diff(m_t.indptr)
    lam = np.where(deg_s + deg_t > 0, deg_s / np.maximum(deg_s + deg_t, 1), 0.5).astype(np.float32)
    lam_s = torch.from_numpy(lam).unsqueeze(1)
    gs, gt = _Bipartite(m_s, torch.device("cpu")), _Bipartite(m_t, torch.device("cpu"))
    a_s = torch.from_numpy(normalized_adjacency(m_s).toarray())
    a_t = torch.from_numpy(normalized_adjacency(m_t).toarray())
    for n_layers in (1, 2, 3):
        (us, is_), (ut, it) = model.propagate(gs, gt, lam_s, 1 - lam_s, n_layers)
        ref_s, ref_t = _reference(model.ego_s, model.ego_t, a_s, a_t, lam_s, 1 - lam_s, n, n_layers)
        torch.testing.assert_close(torch.cat([us, is_]), ref_s, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(torch.cat([ut, it]), ref_t, atol=1e-6, rtol=1e-5)
        # gradients flow to both ego tables exactly as through the stacked form
        g1 = torch.autograd.grad((ut.sum() + it.square().sum()), model.ego_t, retain_graph=True)[0]
        g2 = torch.autograd.grad((ref_t[:n].sum() + ref_t[n:].square().sum()), model.ego_t)[0]
        torch.testing.assert_close(g1, g2, atol=1e-6, rtol=1e-5)
