"""Named architecture configurations of the neural MTL methods (``preset`` in their configs).

``mmoe_paper_census`` — the MMoE paper's Census-Income setting (Ma et al., KDD 2018, section 5.2;
the paper gives the number of experts and single-layer experts and towers but no full
configuration). The sizes are those of the public reference re-implementation of that experiment,
drawbridge/keras-mmoe ``census_income_demo.py`` (MIT; Alvin Deng, 2018): ``MMoE(units=4,
num_experts=8)`` — 8 experts, each one ``Dense(4, relu)`` layer — then per task a ``Dense(8, relu)``
tower and the output unit; Keras ``Adam()`` (learning rate 1e-3), Keras' default batch size 32,
100 epochs. Mapped onto our fields: ``n_experts`` 8, ``hidden_sizes`` (4,), ``tower_sizes`` (8,),
``learning_rate`` 1e-3, ``batch_size`` 32, ``epochs`` 100, no weight decay (``reg`` 0).

Ours, not from a source (stated so, so nobody quotes them as the paper's):

* the input layer: keras-mmoe feeds the one-hot encoded columns to the experts; we embed each
  categorical column (``embedding_size`` 8) and append the standardised numeric columns
  (:class:`methods._mtl_torch.TabularEncoder`);
* early stopping on the validation half (``patience`` 10 epochs; the best epoch is kept), where
  keras-mmoe trains 100 epochs and prints test AUC every epoch;
* ``shared_bottom`` / ``single_task``: a bottom of the experts' total width, one ``Dense(32)``
  layer (8 x 4 units), and the same towers; ``ple``: one extraction level of 4-unit experts, 2 per
  task and 4 shared (8 experts, as MMoE), the same towers.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["PRESETS", "preset_values"]

_CENSUS_COMMON: Mapping[str, Any] = {
    "embedding_size": 8, "tower_sizes": (8,), "learning_rate": 1e-3, "batch_size": 32,
    "epochs": 100, "patience": 10, "reg": 0.0,
}

#: preset name -> method (config class) -> field values
PRESETS: Mapping[str, Mapping[str, Mapping[str, Any]]] = MappingProxyType({
    "mmoe_paper_census": {
        "MMoEConfig": {**_CENSUS_COMMON, "n_experts": 8, "hidden_sizes": (4,)},
        "SharedBottomConfig": {**_CENSUS_COMMON, "hidden_sizes": (32,)},
        "SingleTaskConfig": {**_CENSUS_COMMON, "hidden_sizes": (32,)},
        "PLEConfig": {**_CENSUS_COMMON, "hidden_sizes": (4,), "n_task_experts": 2, "n_shared_experts": 4},
    },
})


def preset_values(preset: str, config_class: str) -> Mapping[str, Any]:
    """The field values preset ``preset`` gives a config class; a ValueError names the valid
    presets, or the methods the preset covers."""
    if preset not in PRESETS:
        raise ValueError(f"preset: {preset!r} is not a preset; valid presets are {['none', *sorted(PRESETS)]}")
    table = PRESETS[preset]
    if config_class not in table:
        raise ValueError(
            f"preset {preset!r} gives no sizes for {config_class}; it covers {sorted(table)}"
        )
    return table[config_class]
