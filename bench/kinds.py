"""The scenario kinds: one declared row per kind, read by every stage instead of its own table.

A scenario kind is a family of experiments with its own data hand-off, method protocol and
evaluation (top-N ranking, multi-task learning, warm and cold cross-domain transfer). Its row names,
as ``"module:attribute"`` strings that are imported only when needed:

==================  ==============================================================================
``settings``        the ``params.yaml: scenarios.<name>`` dataclass (validates the split settings)
``split``           ``(PreparedDataset, settings) -> Split``: the ``split`` stage's builder
``audit``           optional ``(Split) -> dict``: extra leakage checks after the common audit
``data``            the hand-off type a method's ``fit`` receives (documentation and contract)
``protocol``        the :class:`typing.Protocol` a method of this kind implements
``runner``          ``(model, split, evaluation, *, seed, method) -> CellResult``: one run cell
``contract``        optional ``() -> ContractCase``: tiny fit data and how to read outputs, for the
                    contract suite generated from this table (:mod:`bench.contract`)
``tunable``         whether the ``tune`` stage searches hyperparameters for it
``tuner``           the :class:`bench.tuners.Tuner` of a tunable kind: how the tune stage reads a
                    split's train and valid parts (never test) and scores one trial on valid
``references``      the methods the report's paired tests may take as reference (the best of them);
                    ``None``: the best method of the scenario
``gains_over``      the methods the report's relative-gain columns are computed against
``section``         the report section that shows it (several kinds may share one)
``prepared``        the prepared-dataset class whose ``read(folder, name=...)`` the ``split`` stage
                    calls (``interactions`` datasets: :class:`~bench.data.tables.PreparedDataset`;
                    ``tabular`` ones: :class:`~bench.data.tables.PreparedTable`)
``pairs``           whether the parts are (user, item) interactions: the common audit's item-index
                    and pair-overlap checks apply (a tabular kind has one row per person instead)
``not_applicable``  ``(method, reason)`` pairs: methods of the family that do not apply to this kind
                    and why; ``recx check`` quotes the reason when a grid lists one of them
==================  ==============================================================================

The kind's name is also its ``params.yaml: grid`` key, the prefix of its DVC stages
(``run-<kind>@<scenario>-<method>-<seed>``, ``tune-<kind>@<scenario>-<method>``, rendered into
``dvc.yaml`` by :mod:`bench.pipeline`) and its fingerprint folder. A new kind is one module (settings,
builder, runner, protocol) plus one row: :func:`register_kind` from a module named by the entry point
group ``recxbench.kinds`` (see README "Add a scenario kind").
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from bench.errors import ConfigError

__all__ = ["ENTRY_POINT_GROUP", "KINDS", "Kind", "get", "kinds", "load", "register_kind"]

ENTRY_POINT_GROUP = "recxbench.kinds"


@dataclass(frozen=True)
class Kind:
    """One scenario kind (see the module docstring for every field)."""

    name: str
    settings: str
    split: str
    data: str
    protocol: str
    runner: str
    audit: str | None = None
    contract: str | None = None
    tunable: bool = False
    tuner: str | None = None
    references: tuple[str, ...] | None = None
    gains_over: tuple[str, ...] = ()
    section: str = ""
    prepared: str = "bench.data.tables:PreparedDataset"
    pairs: bool = True
    not_applicable: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"scenario kind name {self.name!r} must be a Python identifier")
        if not self.section:
            object.__setattr__(self, "section", self.name)
        if self.tunable and self.tuner is None:
            raise ValueError(f"scenario kind {self.name!r} is tunable but names no tuner")

    def why_not(self, method: str) -> str | None:
        """The declared reason why ``method`` does not apply to this kind (None: none declared)."""
        return dict(self.not_applicable).get(method)

    @property
    def run_stage(self) -> str:
        """The DVC stage (foreach prefix) of this kind's run cells."""
        return f"run-{self.name}"

    @property
    def tune_stage(self) -> str:
        """The DVC stage of this kind's tuning cells (``tunable`` kinds only)."""
        return f"tune-{self.name}"

    def stage(self, scenario: str, method: str, seed: int) -> str:
        """The full DVC stage name of one run cell."""
        return f"{self.run_stage}@{scenario}-{method}-{seed}"

    def resolve(self, field: str) -> Any:
        """The object a ``"module:attribute"`` field names (imported now)."""
        return load(getattr(self, field))


def _cdr_row(name: str, settings: str, split: str) -> Kind:
    """The two cross-domain kinds differ only in their settings and split builder."""
    return Kind(
        name=name,
        settings=f"bench.config:{settings}",
        split=f"bench.splits.cdr:{split}",
        audit="bench.splits.cdr:audit_cdr",
        data="bench.cdr:CDRData",
        protocol="bench.methods:CDRMethod",
        runner="bench.cells.cdr:run_cdr",
        contract="bench.contract:cdr_case",
        tunable=True,
        tuner="bench.tuners.cdr:TUNER",
        references=("target_only", "pooled", "finetune"),
        gains_over=("target_only", "pooled"),
        section="cdr",
    )


#: the built-in kinds, in report order
KINDS: dict[str, Kind] = {
    row.name: row
    for row in (
        Kind(
            name="topn",
            settings="bench.config:TopNScenario",
            split="bench.splits.topn:split_topn",
            data="bench.interactions:Interactions",
            protocol="bench.methods:TopNMethod",
            runner="bench.cells.topn:run_topn",
            contract="bench.contract:topn_case",
            tunable=True,
            tuner="bench.tuners.topn:TUNER",
        ),
        Kind(
            name="mtl",
            settings="bench.config:MTLScenario",
            split="bench.splits.mtl:split_mtl",
            audit="bench.splits.mtl:audit_mtl",
            data="bench.multitask:MTLData",
            protocol="bench.methods:MTLMethod",
            runner="bench.cells.mtl:run_mtl",
            contract="bench.contract:mtl_case",
            tunable=True,
            tuner="bench.tuners.mtl:TUNER",
            references=("single_task",),
            gains_over=("single_task",),
        ),
        _cdr_row("cdr_warm", "CDRWarmScenario", "split_cdr_warm"),
        _cdr_row("cdr_cold", "CDRColdScenario", "split_cdr_cold"),
        Kind(
            name="tabular_mtl",
            settings="bench.config:TabularMTLScenario",
            split="bench.splits.tabular_mtl:split_tabular_mtl",
            audit="bench.splits.tabular_mtl:audit_tabular_mtl",
            data="bench.tabular_mtl:TabularMTLData",
            protocol="bench.methods:TabularMTLMethod",
            runner="bench.cells.tabular_mtl:run_tabular_mtl",
            contract="bench.contract:tabular_mtl_case",
            references=("single_task",),
            gains_over=("single_task",),
            prepared="bench.data.tables:PreparedTable",
            pairs=False,
            not_applicable=(
                ("esmm", "ESMM models a click -> conversion cascade (pCTCVR = pCTR x pCVR over an "
                         "impression space); the census tasks are two parallel labels of a person"),
                ("aitm", "AITM transfers information along a sequential conversion path (click -> "
                         "like); the census tasks have no such order"),
            ),
        ),
    )
}

_PLUGINS_LOADED = False


def register_kind(kind: Kind) -> Kind:
    """Add a scenario kind (from a plugin module named by the ``recxbench.kinds`` entry points)."""
    existing = KINDS.get(kind.name)
    if existing is not None and existing != kind:
        raise ValueError(f"scenario kind {kind.name!r} is already registered ({existing})")
    KINDS[kind.name] = kind
    return kind


def _load_plugins() -> None:
    global _PLUGINS_LOADED
    if not _PLUGINS_LOADED:
        _PLUGINS_LOADED = True
        load_entry_points(ENTRY_POINT_GROUP)


def kinds() -> Mapping[str, Kind]:
    """Every scenario kind, built-in and plugin, by name."""
    _load_plugins()
    return KINDS


def get(name: str, *, where: str = "scenario kind") -> Kind:
    """The row of kind ``name``; a :class:`ConfigError` naming ``where`` lists the valid kinds."""
    table = kinds()
    try:
        return table[name]
    except (KeyError, TypeError):
        raise ConfigError(f"{where}: {name!r} is not a scenario kind; valid kinds are {sorted(table)}") from None


def load_entry_points(group: str, load_one: Callable[[Any], None] | None = None) -> None:
    """Load every entry point of ``group`` (``ep.load()``, or ``load_one(ep)``); a failing one is a
    :class:`ConfigError` naming it and the package to fix (shared with the method registry)."""
    for ep in entry_points(group=group):
        try:
            ep.load() if load_one is None else load_one(ep)
        except Exception as exc:
            raise ConfigError(
                f"plugin entry point {ep.name!r} ({ep.value}) in group {group!r} failed to import: "
                f"{exc!r}. Fix or uninstall the package that provides it."
            ) from exc


def load(target: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load {target!r} declared in the scenario-kind table: {exc}") from exc
