"""``multvae``: variational autoencoder with multinomial likelihood (Liang et al., WWW 2018).

q(z|x_u) = N(mu(x_u), diag sigma^2(x_u)) from the L2-normalised, dropped-out row x_u;
pi(z) = softmax(f(z));  maximise  sum_i x_ui log pi_i(z) - beta * KL(q(z|x_u) || N(0, I))

with beta annealed linearly from 0 by ``1 / total_anneal_steps`` per gradient step up to ``beta_max``
(by default the reference code's schedule measured in epochs, see :func:`anneal_steps`),
tanh MLP encoder ``n_items -> hidden_size -> 2 * embedding_size`` and the mirrored decoder, Adam — the
settings of the authors' reference code (``p_dims = [200, 600, n_items]``, dropout 0.5, cap 0.2).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from bench.interactions import Interactions
from bench.methods import Categorical, FloatRange, check_users, register
from methods import _torch as T
from methods._sparse import SpMM, sparse_mm, sparse_tensor

__all__ = ["MultVAE", "MultVAEConfig", "anneal_steps", "kl_weight"]


@dataclass(frozen=True, kw_only=True)
class MultVAEConfig(T.TopNStopping):
    """The shared torch fields (:class:`methods._torch.TorchConfig`); ``embedding_size`` is the
    dimension of the latent code z (the paper's 200), ``reg`` the L2 weight on the weight matrices
    (not biases): loss += reg * sum ||W||^2 (the reference code's ``lam``; 0 there), ``batch_size``
    counts users, ``epochs`` passes over the users with training interactions.

    Attributes:
        hidden_size: width of the single hidden tanh layer of encoder and decoder (the paper's 600).
        dropout: dropout probability on the normalised input row during training.
        beta_max: cap of the KL weight beta (the paper's anneal cap 0.2).
        total_anneal_steps: gradient steps over which beta grows linearly from 0 to 1 (capped at
            ``beta_max``). ``None`` (default) scales the reference code's 200,000 steps to the data
            (:func:`anneal_steps`): beta then reaches ``beta_max`` after the same number of
            *epochs* (~171) as in the reference ML-20M run, whatever the number of users. A fixed
            200,000 would leave beta near 0 on small data (ML-100K: 2 steps per epoch, beta ~3e-4
            after 300 epochs), so ``beta_max`` would have no effect.
    """

    embedding_size: int = 200
    hidden_size: int = 600
    dropout: float = 0.5
    beta_max: float = 0.2
    total_anneal_steps: int | None = None
    reg: float = 0.0
    batch_size: int = 500

    search_space: ClassVar = {
        "embedding_size": Categorical((64, 128, 200)),
        "learning_rate": FloatRange(1e-4, 1e-1, log=True),
        "reg": FloatRange(1e-6, 1e-2, log=True),
        "dropout": FloatRange(0.0, 0.8),
        "beta_max": FloatRange(0.0, 1.0),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hidden_size < 1:
            raise ValueError(f"hidden_size must be >= 1, got {self.hidden_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.beta_max < 0:
            raise ValueError(f"beta_max must be >= 0, got {self.beta_max}")
        if self.total_anneal_steps is not None and self.total_anneal_steps < 1:
            raise ValueError(f"total_anneal_steps must be >= 1, got {self.total_anneal_steps}")


#: The reference code's run (Liang et al.'s notebook, ML-20M): 200,000 anneal steps with 116,677
#: training users in batches of 500, i.e. 234 gradient steps per epoch.
REFERENCE_ANNEAL_STEPS = 200_000
REFERENCE_STEPS_PER_EPOCH = 234


def anneal_steps(steps_per_epoch: int, total_anneal_steps: int | None = None) -> int:
    """``total_anneal_steps``, or when ``None`` the reference schedule rescaled to
    ``steps_per_epoch``: ``200,000 * steps_per_epoch / 234`` (beta reaches 0.2 after ~171 epochs,
    as in the reference ML-20M run)."""
    if total_anneal_steps is not None:
        return total_anneal_steps
    return max(1, round(REFERENCE_ANNEAL_STEPS * steps_per_epoch / REFERENCE_STEPS_PER_EPOCH))


def kl_weight(step: int, *, beta_max: float, total_anneal_steps: int) -> float:
    """beta of gradient step ``step`` (0-based): ``min(beta_max, step / total_anneal_steps)``."""
    return min(beta_max, step / total_anneal_steps)


def _linear(n_in: int, n_out: int, device, generator: torch.Generator) -> torch.nn.Linear:
    """A Linear layer initialised from ``generator`` (Glorot-uniform weights, N(0, 0.001) biases as in
    the reference code), built without touching torch's global RNG."""
    layer = torch.nn.utils.skip_init(torch.nn.Linear, n_in, n_out, device=device)
    torch.nn.init.xavier_uniform_(layer.weight, generator=generator)
    torch.nn.init.normal_(layer.bias, std=0.001, generator=generator)
    return layer


class _VAE(torch.nn.Module):
    def __init__(self, n_items: int, hidden: int, latent: int, device, generator):
        super().__init__()
        self.latent = latent
        enc1 = _linear(n_items, hidden, device, generator)
        # the first layer stored as (n_items x hidden): its sparse input's product x @ W1 and the
        # gradient x.T @ G are then sparse products with no transposition (same initial values)
        self.enc1_weight = torch.nn.Parameter(enc1.weight.detach().t().contiguous())
        self.enc1_bias = torch.nn.Parameter(enc1.bias.detach())
        self.enc2 = _linear(hidden, 2 * latent, device, generator)
        self.dec1 = _linear(latent, hidden, device, generator)
        self.dec2 = _linear(hidden, n_items, device, generator)

    def encode(self, x: torch.Tensor, x_t: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``: the input rows as a sparse CSR tensor (:func:`_input`); ``x_t``: its transpose, which
        the first layer's weight gradient needs (``None`` only without gradients: scoring). The
        first layer then costs ``nnz x hidden`` instead of ``n_items x hidden`` per row (ML-1M rows
        are ~97 % zeros): the dense layer's product without its multiplications by zero."""
        if x_t is not None:
            first = SpMM.apply(self.enc1_weight, x, x_t)
        elif torch.is_grad_enabled():
            raise RuntimeError("multvae: encode(x) with gradients needs x_t, the transposed input "
                               "(_input(..., transpose=True)); score under torch.no_grad()")
        else:
            first = sparse_mm(x, self.enc1_weight)
        h = self.enc2(torch.tanh(first.add_(self.enc1_bias)))
        return h[:, : self.latent], h[:, self.latent :]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec2(torch.tanh(self.dec1(z)))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic scores from the normalised input rows ``x`` (:func:`_input` without
        dropout): decoder of the posterior mean."""
        return self.decode(self.encode(x)[0])

    def weights_sq(self) -> torch.Tensor:
        rest = sum(m.weight.square().sum() for m in (self.enc2, self.dec1, self.dec2))
        return self.enc1_weight.square().sum() + rest


def _rows(matrix: sp.csr_matrix, users: np.ndarray, device: torch.device) -> torch.Tensor:
    """Dense float32 training rows of ``users`` on ``device`` (the likelihood's targets)."""
    return torch.from_numpy(matrix[users].toarray().astype(np.float32, copy=False)).to(device)


def _input(
    matrix: sp.csr_matrix, users: np.ndarray, device: torch.device, *,
    keep: torch.Tensor | None = None, dropout: float = 0.0, transpose: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The encoder's input rows of ``users`` as a sparse CSR tensor, and its transpose when
    ``transpose`` (training) or ``None``: each row L2-normalised (binary rows: ``1 / sqrt(n_u)`` per
    interaction; empty rows stay zero), then, in training, inverted dropout with the dense boolean
    mask ``keep`` (``rand >= dropout`` over the whole batch, drawn as the dense formulation draws
    it) read at the interactions only: dropping a zero changes nothing."""
    sub = sp.csr_matrix(matrix[users], dtype=np.float32)
    deg = np.diff(sub.indptr)
    values = np.repeat(1.0 / np.sqrt(np.maximum(deg, 1)), deg).astype(np.float32)
    if keep is not None:
        rows = torch.from_numpy(np.repeat(np.arange(len(users)), deg)).to(keep.device)
        kept = keep[rows, torch.from_numpy(sub.indices.astype(np.int64)).to(keep.device)]
        values = values * kept.cpu().numpy() / np.float32(1.0 - dropout)
    x = sp.csr_matrix((values, sub.indices, sub.indptr), shape=sub.shape)
    return sparse_tensor(x, device), sparse_tensor(x.T.tocsr(), device) if transpose else None


@register("multvae", config=MultVAEConfig, scenarios=("topn",))
class MultVAE:
    """Mult-VAE (Liang et al., 2018): multinomial-likelihood VAE over user rows, early stopping.

    Attributes (after ``fit``):
        model_: the trained ``torch.nn.Module`` (encoder + decoder), on the CPU.
        train_: private boolean CSR copy of the training matrix: scoring a user encodes the user's
            training row (boolean so it is not counted as learned parameters).
        training_log_: :class:`methods._torch.TrainingLog` (epochs run, losses, validation scores).

    Scores are the decoder logits of the posterior mean (eval mode: no dropout, no sampling). Users with
    no training interaction are encoded from an all-zero row, i.e. they get the network's
    input-independent scores (learned biases, popularity-like); finite.
    """

    def __init__(self, config: MultVAEConfig):
        self.config = config

    def fit(
        self, data: Interactions, *, rng: np.random.Generator, valid: Interactions | None = None
    ) -> MultVAE:
        cfg = self.config
        device = T.resolve_device(cfg.device)
        gen = T.make_generator(rng, device)
        x_all = sp.csr_matrix(data.matrix, dtype=np.float32, copy=True)
        x_all.data[:] = 1.0
        active = np.flatnonzero(np.diff(x_all.indptr) > 0)
        with T.num_threads(cfg.num_threads):
            model = _VAE(data.n_items, cfg.hidden_size, cfg.embedding_size, device, gen)
            opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
            step = 0
            total_anneal = anneal_steps(-(-len(active) // cfg.batch_size), cfg.total_anneal_steps)
            self.anneal_steps_ = total_anneal

            def run_epoch(epoch: int) -> float:
                nonlocal step
                perm = torch.randperm(len(active), generator=gen, device=device).cpu().numpy()
                total = 0.0
                for start in range(0, len(active), cfg.batch_size):
                    batch = active[perm[start : start + cfg.batch_size]]
                    x = _rows(x_all, batch, device)
                    keep = None
                    if cfg.dropout > 0:
                        keep = torch.rand(x.shape, generator=gen, device=device) >= cfg.dropout
                    rows = _input(x_all, batch, device, keep=keep, dropout=cfg.dropout, transpose=True)
                    mu, logvar = model.encode(*rows)
                    eps = torch.randn(mu.shape, generator=gen, device=device)
                    z = mu + eps * torch.exp(0.5 * logvar)
                    nll = -(F.log_softmax(model.decode(z), dim=1) * x).sum(1).mean()
                    kl = (-0.5 * (1 + logvar - mu.square() - logvar.exp()).sum(1)).mean()
                    beta = kl_weight(
                        step, beta_max=cfg.beta_max, total_anneal_steps=total_anneal
                    )
                    loss = nll + beta * kl
                    if cfg.reg > 0:
                        loss = loss + cfg.reg * model.weights_sq()
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    step += 1
                    total += float(loss.detach()) * len(batch)
                return total / max(len(active), 1)

            def build_score_fn() -> T.ScoreFn:
                return lambda u: model.logits(_input(x_all, u, device)[0]).cpu().numpy()

            evaluate = T.validation_evaluator(
                build_score_fn, train=data, valid=valid, method="multvae"
            )
            self.training_log_ = T.train_epochs(
                model, run_epoch, cfg, evaluate=evaluate, method="multvae",
            )
        self.model_ = model.cpu().eval()
        self.train_ = x_all.astype(bool)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        users = check_users(users, self.train_.shape[0], "multvae")
        device = T.resolve_device(self.config.device)
        model = self._device_model(device)
        with T.num_threads(self.config.num_threads), torch.no_grad():
            return model.logits(_input(self.train_, users, device)[0]).float().cpu().numpy()

    def _device_model(self, device: torch.device) -> torch.nn.Module:
        """``model_`` on ``device`` (the CPU original, or a cached copy that is not pickled)."""
        if device.type == "cpu":
            return self.model_
        cached = self.__dict__.get("_on_device")
        if cached is None or cached[0] != device:
            cached = (device, copy.deepcopy(self.model_).to(device).eval())
            self._on_device = cached
        return cached[1]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_on_device", None)
        return state
