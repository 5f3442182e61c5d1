"""Shared torch parts of the neural multi-task methods (``single_task``, ``shared_bottom``, ``mmoe``,
``ple``, ``esmm``, ``aitm``).

* :class:`MTLConfig` — the fields every neural MTL method shares (``embedding_size``, ``epochs``,
  ``learning_rate``, ``reg``, ``batch_size``, ``patience``, ``loss_weighting``, ``device`` ...);
* :class:`FeatureEncoder` — the input layer of the ``mtl`` hand-off (:class:`bench.multitask.MTLData`):
  embeddings of the user id, item id (slot 0 = unknown -> a zero vector), each categorical user
  field, and the mean of the item's genre embeddings, concatenated;
* :class:`TabularEncoder` — the input layer of the ``tabular_mtl`` hand-off
  (:class:`bench.tabular_mtl.TabularMTLData`): one embedding per categorical column (code 0 =
  unseen in train -> a zero vector) concatenated with the standardised numeric columns;
  :func:`encoder` picks the one for the data (:data:`ENCODERS`), so every network below serves both
  kinds; the tasks a network predicts are ``data.tasks``;
* :func:`mlp`, :class:`ExpertBank`, :func:`tower` — layers, initialised from the run's
  ``torch.Generator`` only (never torch's global RNG);
* :class:`TorchMTL` — ``fit`` / ``predict`` for a network that maps a batch to every task's output:
  mini-batch Adam on the masked per-task losses (BCE for ``click``/``like``/``ctcvr``, MSE for
  ``rating``) combined by :class:`methods._mtl_balance.LossBalancer`, early stopping and model
  selection on ``valid`` (never test) through :func:`methods._torch.train_epochs`.

Validation criterion (higher is better): the mean over tasks of the *skill* ``1 - L_t / L_t^0`` where
``L_t`` is the task's validation loss and ``L_t^0`` that of predicting the training mean (so tasks with
different loss scales count alike; 0 = no better than the constant, 1 = perfect).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self

import numpy as np
import torch
from torch import nn

from bench.errors import ConfigError
from bench.methods import Categorical, FloatRange
from bench import tabular_mtl
from bench.multitask import BINARY_TASKS, TASKS, MTLData, check_fit_data
from bench.tabular_mtl import TabularMTLData
from methods import _torch as T
from methods._mtl_balance import BALANCERS, LossBalancer

__all__ = [
    "ENCODERS",
    "EPS",
    "ExpertBank",
    "FeatureEncoder",
    "MTLConfig",
    "MTLNet",
    "TabularEncoder",
    "TorchMTL",
    "batch_tensors",
    "check_data",
    "encoder",
    "linear",
    "mix",
    "mlp",
    "predict_tasks",
    "task_losses",
    "tower",
]

EPS = 1e-7
PREDICT_BATCH = 16384


#: set while :meth:`MTLConfig.from_params` builds a config whose preset it has already merged
_PRESET_MERGED: ContextVar[bool] = ContextVar("recx_mtl_preset_merged", default=False)


@dataclass(frozen=True, kw_only=True)
class MTLConfig(T.TorchConfig):
    """Fields shared by the neural MTL methods: the torch fields of
    :class:`methods._torch.TorchConfig` (``embedding_size`` = dimension of every feature embedding:
    ids, demographic fields, genres; ``reg`` = L2 weight decay on the network parameters, Adam
    ``weight_decay``; ``batch_size`` counts impressions; ``patience`` counts epochs without a better
    validation skill; ``num_threads`` defaults to 1: these small networks gain little from intra-op
    threads, and on shared cores extra threads spin, measured: one ML-100K fit 6.5 s with 1 thread,
    57 s with 2 under load 4) plus:

    Attributes:
        hidden_sizes: layer widths of the shared bottom / each expert / each task tower body
            (method-specific, see the method).
        tower_sizes: hidden widths of each task's output tower (before the 1-unit output).
        loss_weighting: how task losses are combined: ``equal``, ``uncertainty`` (Kendall et al.
            2018), ``dwa`` (Liu et al. 2019), ``gradnorm`` (Chen et al. 2018, alpha 1.5, last shared
            layer), ``pcgrad`` (Yu et al. 2020); see :mod:`methods._mtl_balance`.
        preset: ``none``, or a named architecture configuration of :mod:`methods._mtl_presets`
            (``mmoe_paper_census``: the MMoE paper's Census-Income sizes, source there): it gives
            new defaults. Through :meth:`from_params` (params.yaml blocks, tuning trials) every
            key the block sets wins over the preset (e.g. ``epochs: 3`` for a capped run, or a
            trial's ``embedding_size: 16`` even though 16 is the class default); built directly,
            the preset replaces the fields still at their class defaults.
    """

    embedding_size: int = 16
    hidden_sizes: tuple[int, ...] = (64, 32)
    tower_sizes: tuple[int, ...] = (16,)
    epochs: int = 40
    learning_rate: float = 2e-3
    reg: float = 1e-6
    batch_size: int = 2048
    patience: int = 3
    loss_weighting: Literal["equal", "uncertainty", "dwa", "gradnorm", "pcgrad"] = "equal"
    num_threads: int = 1
    preset: Literal["none", "mmoe_paper_census"] = "none"

    search_space: ClassVar = {
        "embedding_size": Categorical((8, 16, 32)),
        "learning_rate": FloatRange(3e-4, 1e-2, log=True),
        "reg": FloatRange(1e-8, 1e-4, log=True),
        "loss_weighting": Categorical(BALANCERS),
    }

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None, *, where: str = "params") -> Self:
        """The block's keys over the preset's values over the class defaults (see ``preset``)."""
        params = dict(params or {})
        preset = params.get("preset", "none")
        if preset == "none" or not isinstance(preset, str):
            return super().from_params(params, where=where)
        from methods._mtl_presets import preset_values

        try:
            values = preset_values(preset, cls.__name__)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        token = _PRESET_MERGED.set(True)
        try:
            return super().from_params({**values, **params}, where=where)
        finally:
            _PRESET_MERGED.reset(token)

    def __post_init__(self) -> None:
        if self.preset != "none" and not _PRESET_MERGED.get():
            self._apply_preset()
        super().__post_init__()
        for name in ("hidden_sizes", "tower_sizes"):
            if any(h < 1 for h in getattr(self, name)):
                raise ValueError(f"{name} must list positive widths, got {list(getattr(self, name))}")


    def _apply_preset(self) -> None:
        """Give the fields still at their defaults the preset's values (frozen dataclass:
        ``object.__setattr__``, as ``__init__`` does)."""
        import dataclasses

        from methods._mtl_presets import preset_values

        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for name, value in preset_values(self.preset, type(self).__name__).items():
            if getattr(self, name) == defaults[name]:
                object.__setattr__(self, name, value)


# ----------------------------------------------------------------------------- layers
def linear(n_in: int, n_out: int, gen: torch.Generator, device: torch.device) -> nn.Linear:
    """A Linear layer with Glorot-uniform weights from ``gen`` and zero bias (no global RNG use)."""
    layer = nn.utils.skip_init(nn.Linear, n_in, n_out, device=device)
    nn.init.xavier_uniform_(layer.weight, generator=gen)
    nn.init.zeros_(layer.bias)
    return layer


def mlp(n_in: int, sizes: Sequence[int], gen: torch.Generator, device: torch.device) -> nn.Sequential:
    """``Linear -> ReLU`` per width in ``sizes`` (identity when empty)."""
    layers: list[nn.Module] = []
    for width in sizes:
        layers += [linear(n_in, width, gen, device), nn.ReLU()]
        n_in = width
    return nn.Sequential(*layers)


def tower(n_in: int, sizes: Sequence[int], gen: torch.Generator, device: torch.device) -> nn.Sequential:
    """A task tower: ``mlp(sizes)`` then one output unit (a logit or a rating offset)."""
    body = mlp(n_in, sizes, gen, device)
    return nn.Sequential(*body, linear(sizes[-1] if sizes else n_in, 1, gen, device))


class ExpertBank(nn.Module):
    """``E`` independent ``Linear -> ReLU`` experts evaluated in one batched matmul.

    ``forward(x)`` takes ``(B, n_in)`` (same input for every expert) or ``(E, B, n_in)`` and returns
    ``(E, B, n_out)``.
    """

    def __init__(self, n_experts: int, n_in: int, n_out: int, gen: torch.Generator, device: torch.device):
        super().__init__()
        bound = float(np.sqrt(6.0 / (n_in + n_out)))
        w = torch.empty(n_experts, n_in, n_out, device=device).uniform_(-bound, bound, generator=gen)
        self.weight = nn.Parameter(w)
        self.bias = nn.Parameter(torch.zeros(n_experts, 1, n_out, device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # one GEMM against all experts' weights side by side
            n_exp, n_in, n_out = self.weight.shape
            w = self.weight.permute(1, 0, 2).reshape(n_in, n_exp * n_out)
            # bias and ReLU on the GEMM's contiguous (B, E * d) output, then the (E, B, d) view: the
            # same values as adding to the transposed view, without its strided elementwise loops
            # (on an oversubscribed core they took 40 % of an mmoe step)
            h = torch.relu((x @ w).add_(self.bias.view(1, n_exp * n_out)))
            return h.view(x.shape[0], n_exp, n_out).transpose(0, 1)
        return torch.relu(torch.baddbmm(self.bias, x, self.weight))


def mix(gate: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
    """Gate-weighted sum of expert outputs: ``gate`` ``(B, E)`` (rows sum to 1), ``experts``
    ``(E, B, d)`` -> ``(B, d)`` (elementwise; a batched 1 x E matmul per row would be far slower)."""
    return (gate.t().unsqueeze(-1) * experts).sum(dim=0)


class FeatureEncoder(nn.Module):
    """Input layer shared by every architecture: concatenated field embeddings, ``(B, out_dim)``.

    Fields: user id, item id (slot 0 = unknown id: a fixed zero vector), one embedding per
    categorical user field (code 0 = missing, learned), and the mean of the item's genre embeddings
    (zero for an item without genres).
    """

    def __init__(self, data: MTLData, dim: int, gen: torch.Generator, device: torch.device):
        super().__init__()

        def table(n: int, padding: bool) -> nn.Embedding:
            emb = nn.utils.skip_init(nn.Embedding, max(n, 1), dim, padding_idx=0 if padding else None, device=device)
            nn.init.normal_(emb.weight, std=0.05, generator=gen)
            if padding:
                with torch.no_grad():
                    emb.weight[0].zero_()
            return emb

        self.user = table(data.n_user_ids, True)
        self.item = table(data.n_item_ids, True)
        self.fields = nn.ModuleList(table(size, False) for size in data.field_sizes)
        n_genres = data.item_genres.shape[1]
        self.genre = nn.Parameter(torch.empty(n_genres, dim, device=device).normal_(0, 0.05, generator=gen)) if n_genres else None
        self.out_dim = dim * (2 + len(self.fields) + (1 if n_genres else 0))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = [self.user(batch["user_id"]), self.item(batch["item_id"])]
        parts += [emb(batch["user_fields"][:, j]) for j, emb in enumerate(self.fields)]
        if self.genre is not None:
            g = batch["item_genres"]
            parts.append((g @ self.genre) / g.sum(dim=1, keepdim=True).clamp_min(1.0))
        return torch.cat(parts, dim=1)


class TabularEncoder(nn.Module):
    """Input layer of :class:`~bench.tabular_mtl.TabularMTLData`: ``(B, dim * C + D)``.

    Every categorical column ``j`` has its own ``dim``-vector per code 1..k_j, all held in one
    table (column ``j``'s codes shifted by an offset, so one lookup serves every column); code 0
    (a value unseen in train) maps to the shared padding row, a fixed zero vector. The ``D``
    standardised numeric columns are appended as they are.
    """

    def __init__(self, data: TabularMTLData, dim: int, gen: torch.Generator, device: torch.device):
        super().__init__()
        sizes = np.asarray(data.categorical_sizes, dtype=np.int64) - 1  # codes 1..k per column
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if sizes.size else np.zeros(0, np.int64)
        self.register_buffer("offsets", torch.tensor(offsets, dtype=torch.long, device=device))
        self.n_columns = int(sizes.size)
        self.table = nn.utils.skip_init(nn.Embedding, int(sizes.sum()) + 1, dim, padding_idx=0, device=device)
        nn.init.normal_(self.table.weight, std=0.05, generator=gen)
        with torch.no_grad():
            self.table.weight[0].zero_()
        self.out_dim = dim * self.n_columns + int(data.numeric.shape[1])

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        codes = batch["categorical"]
        index = torch.where(codes > 0, codes + self.offsets, torch.zeros_like(codes))
        emb = self.table(index).flatten(1)  # (B, C * dim)
        return torch.cat([emb, batch["numeric"]], dim=1)


#: the input layer of each hand-off type
ENCODERS: dict[type, type[nn.Module]] = {MTLData: FeatureEncoder, TabularMTLData: TabularEncoder}
#: what ``fit`` checks first, per hand-off type
_CHECKS = {MTLData: check_fit_data, TabularMTLData: tabular_mtl.check_fit_data}


def encoder(data, dim: int, gen: torch.Generator, device: torch.device) -> nn.Module:
    """The input layer for ``data``'s hand-off type (:data:`ENCODERS`), with ``out_dim`` set."""
    return ENCODERS[type(data)](data, dim, gen, device)


def check_data(data, method: str) -> None:
    """``data`` is a hand-off a neural MTL method takes, with labels for every task (the kind's
    ``check_fit_data``); anything else is a :class:`~bench.errors.MethodError` naming both types."""
    check = _CHECKS.get(type(data))
    if check is None:
        from bench.errors import MethodError

        raise MethodError(
            f"{method}: fit() expects bench.multitask.MTLData or bench.tabular_mtl.TabularMTLData, "
            f"got {type(data).__name__}"
        )
    check(data, method)


class MTLNet(nn.Module):
    """Base of the networks: ``forward(batch)`` returns every task of ``tasks`` (the data's:
    :data:`TASKS` for ``mtl``; probabilities for ``binary_tasks``, ratings for ``rating``).
    Subclasses set ``loss_tasks`` (tasks with a loss term) and may override :meth:`extra_loss`, :meth:`shared_parameters`, :meth:`last_shared_parameters`."""

    loss_tasks: tuple[str, ...] = TASKS

    def __init__(self, rating_mean: float, tasks: Sequence[str] = TASKS, binary_tasks: Sequence[str] = BINARY_TASKS):
        super().__init__()
        self.tasks, self.binary_tasks = tuple(tasks), tuple(binary_tasks)
        self.register_buffer("rating_mean", torch.tensor(float(rating_mean)))

    def shared_parameters(self) -> list[nn.Parameter]:
        return []

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return []

    def extra_loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        return None

    def outputs(self, logits: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Turn per-task tower outputs into predictions: sigmoid for binary tasks, offset for rating."""
        out = {t: torch.sigmoid(v.squeeze(-1)) for t, v in logits.items() if t in self.binary_tasks}
        if "rating" in logits:
            out["rating"] = self.rating_mean + logits["rating"].squeeze(-1)
        return out


def batch_tensors(data: MTLData, device: torch.device) -> dict[str, torch.Tensor]:
    """The inputs (``data.arrays()``: integer codes as long, the rest float32) and labels of
    ``data`` as tensors on ``device`` (copies: ``data`` is never aliased)."""
    out = {
        name: torch.tensor(value, dtype=torch.long if value.dtype.kind in "iub" else torch.float32, device=device)
        for name, value in data.arrays().items()
    }
    for task, value in data.labels.items():
        out[f"y_{task}"] = torch.tensor(value, dtype=torch.float32, device=device)
        out[f"m_{task}"] = torch.tensor(data.masks[task], dtype=torch.float32, device=device)
    return out


def task_losses(
    out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], tasks: Sequence[str]
) -> torch.Tensor:
    """``(len(tasks),)`` masked mean losses: BCE for binary tasks, squared error for ``rating``."""
    losses = []
    for task in tasks:
        y, m, p = batch[f"y_{task}"], batch[f"m_{task}"], out[task]
        if task == "rating":
            err = (p - y).square()
        else:
            p = p.clamp(EPS, 1 - EPS)
            err = -(y * torch.log(p) + (1 - y) * torch.log1p(-p))
        losses.append((err * m).sum() / m.sum().clamp_min(1.0))
    return torch.stack(losses)


def _take(batch: dict[str, torch.Tensor], idx: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: v[idx] for k, v in batch.items()}


class TorchMTL:
    """Fit / predict for the neural MTL methods; a subclass provides :meth:`build` (the network).

    Attributes (after ``fit``):
        net_: the trained :class:`MTLNet` (best validation state restored), in eval mode.
        training_log_: :class:`methods._torch.TrainingLog` (epochs, losses, validation skills).
        task_weights_: the loss balancer's final task weights (``loss_tasks`` order).

    Unknown users/items (vocabulary slot 0) are scored from their features alone.
    """

    config: MTLConfig

    def __init__(self, config: MTLConfig):
        self.config = config

    # subclasses ---------------------------------------------------------------------------------
    def build(self, data: MTLData, rating_mean: float, gen: torch.Generator, device: torch.device) -> MTLNet:
        raise NotImplementedError

    # fit / predict ------------------------------------------------------------------------------
    def fit(self, data: MTLData, *, rng: np.random.Generator, valid: MTLData | None = None) -> TorchMTL:
        check_data(data, self.method_name)
        device = T.resolve_device(self.config.device)
        gen = T.make_generator(rng, device)
        with T.num_threads(self.config.num_threads):
            net, log, weights = self._train(data, valid, gen, device)
        self.net_, self.training_log_, self.task_weights_ = net, log, weights
        return self

    def predict(self, data: MTLData) -> dict[str, np.ndarray]:
        """Every task's prediction for the rows of ``data`` (labels, if any, are ignored)."""
        net = self.net_
        device = next(net.buffers()).device
        with T.num_threads(self.config.num_threads):
            return predict_tasks(net, data, device, net.tasks)

    # training loop (shared with single_task) --------------------------------------------------
    def _train(
        self,
        data: MTLData,
        valid: MTLData | None,
        gen: torch.Generator,
        device: torch.device,
        build=None,
        tasks: Sequence[str] | None = None,
    ) -> tuple[MTLNet, T.TrainingLog, list[float]]:
        """Train one network (``build(data, rating_mean, gen, device)``, default :meth:`build`) whose
        validation skill is measured on ``tasks`` (default: every task of ``data``)."""
        cfg, name = self.config, self.method_name
        tasks = data.tasks if tasks is None else tasks
        rating = data.labels["rating"][data.masks["rating"]] if "rating" in data.labels else np.zeros(0)
        rating_mean = float(rating.mean()) if rating.size else 0.0
        net = (build or self.build)(data, rating_mean, gen, device)
        loss_tasks = net.loss_tasks
        balancer = LossBalancer(
            cfg.loss_weighting, [t == "rating" for t in loss_tasks], generator=gen, device=device
        )
        opt = torch.optim.Adam(
            [
                {"params": list(net.parameters()), "weight_decay": cfg.reg},
                {"params": list(balancer.parameters()), "weight_decay": 0.0},
            ],
            lr=cfg.learning_rate,
            fused=True,  # one kernel for all parameters: ~15 % faster steps on CPU, same maths
        )
        train = batch_tensors(data, device)
        n = len(data)
        shared, last_shared = net.shared_parameters(), net.last_shared_parameters()

        def run_epoch(epoch: int) -> float:
            perm = torch.randperm(n, generator=gen, device=device)
            sums = torch.zeros(len(loss_tasks), device=device)
            total = torch.zeros((), device=device)
            for start in range(0, n, cfg.batch_size):
                idx = perm[start : start + cfg.batch_size]
                batch = _take(train, idx)
                out = net(batch)
                losses = task_losses(out, batch, loss_tasks)
                opt.zero_grad(set_to_none=True)
                objective = balancer.backward(
                    losses, shared=shared, last_shared=last_shared, extra=net.extra_loss(out, batch)
                )
                opt.step()
                balancer.after_step()
                sums += losses.detach() * idx.numel()
                total += objective * idx.numel()
            balancer.end_epoch(sums / max(n, 1))
            return float(total) / max(n, 1)

        evaluate = (
            _validation_skill(net, data, valid, device, tuple(tasks))
            if valid is not None and len(valid) else None
        )
        log = T.train_epochs(
            net, run_epoch if n else (lambda epoch: 0.0), cfg, evaluate=evaluate, method=name,
        )
        net.eval()
        return net, log, balancer.weights().cpu().tolist()


def predict_tasks(net: MTLNet, data: MTLData, device: torch.device, tasks: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """``net``'s predictions of ``tasks`` for every impression of ``data`` (features only), in
    batches of :data:`PREDICT_BATCH`, as float64 arrays (``tasks`` default: ``net.tasks``)."""
    tasks = net.tasks if tasks is None else tasks
    feats = batch_tensors(data.features_only(), device)
    chunks: dict[str, list[np.ndarray]] = {t: [] for t in tasks}
    net.eval()
    with torch.no_grad():
        for start in range(0, len(data), PREDICT_BATCH):
            out = net(_take(feats, torch.arange(start, min(start + PREDICT_BATCH, len(data)), device=device)))
            for t in tasks:
                chunks[t].append(out[t].double().cpu().numpy())
    return {
        t: np.concatenate(c) if c else np.zeros(0, dtype=np.float64) for t, c in chunks.items()
    }


def _validation_skill(net: MTLNet, train: MTLData, valid: MTLData, device: torch.device, tasks: tuple[str, ...]):
    """Mean over ``tasks`` of ``1 - L_t(valid) / L_t(constant = training mean)`` (see module doc)."""
    batch = batch_tensors(valid, device)
    base = {}
    for t in tasks:
        m = train.masks[t]
        mean = float(train.labels[t][m].mean()) if m.any() else 0.0
        base[t] = torch.full((len(valid),), mean, device=device)
    base_losses = task_losses(base, batch, tasks).clamp_min(1e-12)

    def evaluate() -> float:
        pred = predict_tasks(net, valid, device, tasks)
        out = {t: torch.as_tensor(pred[t], dtype=torch.float32, device=device) for t in tasks}
        return float((1.0 - task_losses(out, batch, tasks) / base_losses).mean())

    return evaluate
