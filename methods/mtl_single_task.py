"""``single_task``: the no-sharing control — one independent network per task, each with the
``shared_bottom`` architecture (embeddings -> MLP ``hidden_sizes`` -> tower), so every task gets the
same architecture budget that ``shared_bottom`` spends on all tasks together.

Task ``t``'s network minimises only ``L_t`` (BCE for click / like / ctcvr and the census tasks, MSE
for rating; like and rating on clicked impressions) and is early-stopped on its own validation skill. ``loss_weighting``
is accepted for a uniform interface but has nothing to balance (one loss per network). delta_m in
the MTL report is measured against this method.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bench.methods import register
from bench.multitask import MTLData
from methods import _torch as T
from methods._mtl_torch import MTLConfig, TorchMTL, check_data, predict_tasks
from methods.mtl_shared_bottom import SharedBottomNet

__all__ = ["SingleTask", "SingleTaskConfig"]


@dataclass(frozen=True, kw_only=True)
class SingleTaskConfig(MTLConfig):
    """Fields of :class:`methods._mtl_torch.MTLConfig`, applied to each task's own network."""


@register("single_task", config=SingleTaskConfig, scenarios=("mtl", "tabular_mtl"))
class SingleTask(TorchMTL):
    """One shared-bottom-shaped network per task, trained and early-stopped separately.

    Attributes (after ``fit``):
        nets_: ``torch.nn.ModuleDict`` task -> trained network.
        training_logs_: task -> :class:`methods._torch.TrainingLog`.
    """

    #: several networks trained in sequence (epoch counts restart): the tune stage does not prune it
    #: (no epoch of one stage is comparable with another trial's; see bench.tune.FirstStageReporter)
    prunable = False

    def fit(self, data: MTLData, *, rng: np.random.Generator, valid: MTLData | None = None) -> SingleTask:
        check_data(data, self.method_name)
        device = T.resolve_device(self.config.device)
        gen = T.make_generator(rng, device)
        nets, logs = {}, {}
        with T.num_threads(self.config.num_threads):
            for task in data.tasks:
                def build(d, rating_mean, g, dev, task=task):
                    return SharedBottomNet(d, self.config, rating_mean, g, dev, tasks=(task,))

                nets[task], logs[task], _ = self._train(
                    data, valid, gen, device, build=build, tasks=(task,)
                )
        self.nets_, self.training_logs_ = torch.nn.ModuleDict(nets), logs
        return self

    def predict(self, data: MTLData) -> dict[str, np.ndarray]:
        with T.num_threads(self.config.num_threads):
            return {
                t: predict_tasks(net, data, next(net.buffers()).device, (t,))[t]
                for t, net in self.nets_.items()
            }
