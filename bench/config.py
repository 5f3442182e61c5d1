"""``params.yaml``: load, validate every section before anything runs, and hand out typed settings.

Sections (all validated by :func:`load_params`):

``seeds``        list of distinct non-negative ints; every run cell is repeated per seed.
``datasets``     ``<dataset>: {prepare options}``; a ``fetch@``/``prepare@`` stage runs for each key.
``pairs``        optional: ``<pair>: {first, second, names, min_item_ratings, min_user_interactions}``, a two-domain dataset joined
                 from two prepared single-category datasets (:class:`CategoryPair`); a ``pair@``
                 stage writes it to ``datasets/prepared/<pair>``, where scenarios use it by name.
``scenarios``    ``<scenario>: {kind, dataset, split settings}``; a ``split@`` stage runs for each key.
``evaluation``   cut-offs ``ks``, metric names, scoring batch size, length of the saved top-K lists.
``grid``         ``<kind>: {scenarios: [...], methods: [...]}``: the run cells, ``run-<kind>@<scenario>-<method>-<seed>``.
``methods``      ``<method>: {hyperparameters}``; one block per method named in ``grid`` (``{}`` = defaults).
                 A block with ``method: <registered method>`` is a *named configuration* of that
                 method under its own name (e.g. the MMoE paper's Census sizes as ``mmoe_census``).
``tuning``       optional: the hyperparameter search every method gets (same budget for all); absent
                 or ``n_trials: 0`` = off, the ``methods`` blocks are used as they are.

Every error names the ``params.yaml`` key and lists the valid choices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from bench.errors import ConfigError
from bench.typed import parse_dataclass

__all__ = [
    "CDRColdScenario",
    "CDRScenario",
    "CDRWarmScenario",
    "CategoryPair",
    "Evaluation",
    "Grid",
    "MTLScenario",
    "Params",
    "Scenario",
    "TabularMTLScenario",
    "TopNScenario",
    "Tuning",
    "load_params",
]

#: the key of a ``methods`` block that makes it a named configuration of a registered method
NAMED_METHOD_KEY = "method"

SECTIONS = ("seeds", "datasets", "pairs", "scenarios", "evaluation", "grid", "methods", "tuning")


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """Base of every scenario's settings: its name (the ``params.yaml`` key), kind and dataset.

    Each scenario kind subclasses this with its own split settings, named by the kind's row in
    :mod:`bench.kinds`, so ``params.yaml: scenarios.<name>.kind`` selects the settings class that
    validates the rest of the block.
    """

    name: str = ""
    kind: str
    dataset: str


def _check_fractions(valid_fraction: float, test_fraction: float) -> None:
    """Both shares in (0, 1) and leaving a non-empty train part."""
    for key, value in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < value < 1.0:
            raise ConfigError(f"{key} must be in (0, 1), got {value}")
    if valid_fraction + test_fraction >= 1.0:
        raise ConfigError(
            f"valid_fraction + test_fraction must be < 1 so that train is not empty, got "
            f"{valid_fraction} + {test_fraction}"
        )


@dataclass(frozen=True, kw_only=True)
class TopNScenario(Scenario):
    """Single-domain top-N from implicit feedback.

    Attributes:
        split: ``temporal_global`` (one global cut-off time: no future interaction in train),
            ``leave_last_out`` (per user: last interaction -> test, second last -> valid) or
            ``random_holdout`` (each interaction assigned at random with the seed).
        valid_fraction, test_fraction: shares of interactions (temporal_global, random_holdout).
        min_rating: keep only interactions with ``rating >= min_rating`` as positives (None = all).
        seed: seed of the split itself (random_holdout); independent of the run seeds.
    """

    kind: Literal["topn"] = "topn"
    split: Literal["temporal_global", "leave_last_out", "random_holdout"] = "temporal_global"
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    min_rating: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        _check_fractions(self.valid_fraction, self.test_fraction)


@dataclass(frozen=True, kw_only=True)
class MTLScenario(Scenario):
    """Multi-task learning on (user, item) impressions (builder: :mod:`bench.splits.mtl`).

    Rated interactions are split by time, under one of two protocols (``split``). Each part's
    click space is its rated pairs plus ``n_negatives`` sampled unrated items per rated pair (never an
    item the user rated anywhere in the dataset; drawn once with ``seed`` and saved in the split).
    Tasks: ``click`` (rated vs. sampled), ``like`` (``rating >= like_threshold``, on clicked pairs),
    ``ctcvr`` (click AND like over the entire space, as in ESMM) and ``rating`` (regression, rated
    pairs only).

    Attributes:
        split: ``temporal_global`` — two global cut-off times (train < valid < test: no future in
            train, but most test users of a short-lived dataset such as ML-100K never occur in
            train, so they are cold); ``per_user_temporal`` — the warm-user protocol: each user's
            rated interactions in time order, the last ``test_fraction`` of them (at least one) ->
            test, the ``valid_fraction`` before (at least one) -> valid, the rest -> train; users
            with fewer than 3 ratings stay in train. Every test user is then warm.
        valid_fraction, test_fraction: shares of rated interactions in valid and test (by time;
            per user under ``per_user_temporal``).
        n_negatives: sampled unrated impressions per rated pair (>= 1).
        like_threshold: a rating at or above it is a ``like``.
        seed: seed of the negative sampling; independent of the run seeds.
    """

    kind: Literal["mtl"] = "mtl"
    split: Literal["temporal_global", "per_user_temporal"] = "temporal_global"
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    n_negatives: int = 2
    like_threshold: float = 4.0
    seed: int = 0

    def __post_init__(self) -> None:
        _check_fractions(self.valid_fraction, self.test_fraction)
        if self.n_negatives < 1:
            raise ConfigError(f"n_negatives must be >= 1, got {self.n_negatives}")


@dataclass(frozen=True, kw_only=True)
class TabularMTLScenario(Scenario):
    """Multi-task learning on a tabular dataset, one row per person (builder:
    :mod:`bench.splits.tabular_mtl`): the MMoE paper's Census-Income setting (Ma et al., KDD 2018,
    section 5.2), whose split the public re-implementation drawbridge/keras-mmoe describes as "Split
    the other dataset into 1:1 validation to test according to the paper".

    The release's ``train`` part is the training set; its ``test`` part is split at random with
    ``seed`` into valid and test, ``valid_share`` of it (rounded down) to valid. Features are encoded
    once from train (see the builder) and saved in the split.

    Attributes:
        task_set: the pair of tasks (``bench.data.census.TASK_SETS``): ``income_marital`` (income >
            50K; never married) or ``education_marital`` (at least college; never married).
        valid_share: share of the release's test part that goes to valid (0.5: the paper's 1:1).
        seed: seed of the valid/test draw; independent of the run seeds.
    """

    kind: Literal["tabular_mtl"] = "tabular_mtl"
    task_set: Literal["income_marital", "education_marital"] = "income_marital"
    valid_share: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.valid_share < 1.0:
            raise ConfigError(f"valid_share must be in (0, 1) (0.5 = the paper's 1:1), got {self.valid_share}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")


@dataclass(frozen=True, kw_only=True)
class CDRScenario(Scenario):
    """Cross-domain settings shared by ``cdr_warm`` and ``cdr_cold`` (builders:
    :mod:`bench.splits.cdr`). Users are shared between the two domains; items belong to one domain.

    Attributes:
        source, target: domain names (values of the prepared ``domain`` column, or the two group
            names when ``source_genres``/``target_genres`` derive domains from genres).
        source_genres, target_genres: derive the domains of a single-domain dataset from item genres
            (MovieLens): an item whose FIRST listed genre is in ``source_genres`` belongs to
            ``source``, in ``target_genres`` to ``target``; other items are dropped (counted).
            Both empty (default): the prepared ``domain`` column is used.
        min_rating: keep only interactions with ``rating >= min_rating`` (None = all).
        n_negatives: sampled negatives per test pair for the release protocol (saved once, in the
            split's ``candidates`` side table).
        seed: seed of the split itself (validation carving, cold-user draw, candidates).
    """

    source: str
    target: str
    source_genres: tuple[str, ...] = ()
    target_genres: tuple[str, ...] = ()
    min_rating: float | None = None
    n_negatives: int = 999
    seed: int = 0

    def __post_init__(self) -> None:
        if self.source == self.target:
            raise ConfigError(f"source and target must differ, both are {self.source!r}")
        if bool(self.source_genres) != bool(self.target_genres):
            raise ConfigError("source_genres and target_genres must be given together (or neither)")
        if set(self.source_genres) & set(self.target_genres):
            raise ConfigError(
                f"a genre cannot belong to both domains: {sorted(set(self.source_genres) & set(self.target_genres))}"
            )
        if self.n_negatives < 1:
            raise ConfigError(f"n_negatives must be >= 1, got {self.n_negatives}")


@dataclass(frozen=True, kw_only=True)
class CDRWarmScenario(CDRScenario):
    """Warm-start cross-domain recommendation: overlapping users, evaluated on the target domain.

    Attributes:
        split: ``given`` (the release's leave-one-out test; one validation item per test user is
            carved from the user's target training items, see :mod:`bench.splits.cdr`) or
            ``leave_one_out`` (per target user by (timestamp, item): last -> test, second last ->
            valid; users with fewer than 3 target interactions stay in train).
    """

    kind: Literal["cdr_warm"] = "cdr_warm"
    split: Literal["given", "leave_one_out"] = "given"


@dataclass(frozen=True, kw_only=True)
class CDRColdScenario(CDRScenario):
    """Cold-start cross-domain recommendation: target users known only through the source domain.

    Attributes:
        split: ``given`` (the release's cold-start valid/test users) or ``withhold`` (EMCDR / PTUPCDR
            protocol: a fraction ``beta`` of the overlapping users, drawn with ``seed``, lose all their
            target interactions; half of them (rounded down) -> valid, the rest -> test).
        beta: fraction of overlapping users made cold (``withhold`` only), in (0, 1).
    """

    kind: Literal["cdr_cold"] = "cdr_cold"
    split: Literal["given", "withhold"] = "given"
    beta: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.beta < 1.0:
            raise ConfigError(f"beta must be in (0, 1), got {self.beta}")


@dataclass(frozen=True, kw_only=True)
class CategoryPair:
    """A two-domain dataset joined from two prepared single-category datasets on the raw user id
    (:func:`bench.splits.cdr_pairs.category_pair`, the DisenCDR / CDRIB preprocessing family): items
    with at least ``min_item_ratings`` interactions in their category, then the users with at least
    ``min_user_interactions`` of those in EACH category.

    Attributes:
        first, second: keys of ``datasets`` (e.g. two Amazon 2018 5-core categories).
        names: the two domain names (``source``/``target`` of the scenarios that use the pair).
    """

    first: str
    second: str
    names: tuple[str, str]
    min_item_ratings: int = 10
    min_user_interactions: int = 5

    def __post_init__(self) -> None:
        if self.first == self.second:
            raise ConfigError(f"first and second must be two different datasets, got {self.first!r} twice")
        if len(self.names) != 2 or self.names[0] == self.names[1]:
            raise ConfigError(f"names must be two different domain names, got {list(self.names)}")
        if self.min_item_ratings < 1 or self.min_user_interactions < 1:
            raise ConfigError(
                f"min_item_ratings and min_user_interactions must be >= 1, got "
                f"{self.min_item_ratings} and {self.min_user_interactions}"
            )


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    """How every run is evaluated (full ranking over all items, training items excluded).

    Attributes:
        ks: ranking cut-offs, each > 0.
        metrics: ranking metric names (see ``bench.metrics``).
        batch_size: users scored per batch (bounds memory at ``batch_size x n_items`` floats).
        topk_saved: length of the saved top-K list per user (>= max(ks)).
    """

    ks: tuple[int, ...] = (5, 10, 20)
    metrics: tuple[str, ...] = ("recall", "precision", "hr", "ndcg", "mrr", "map")
    batch_size: int = 1024
    topk_saved: int = 100

    def __post_init__(self) -> None:
        if not self.ks:
            raise ConfigError("ks must list at least one cut-off")
        if any(k <= 0 for k in self.ks):
            raise ConfigError(f"ks must be positive integers, got {list(self.ks)}")
        if self.batch_size <= 0:
            raise ConfigError(f"batch_size must be positive, got {self.batch_size}")
        if self.topk_saved < max(self.ks):
            raise ConfigError(f"topk_saved ({self.topk_saved}) must be >= max(ks) ({max(self.ks)})")
        if not self.metrics:
            raise ConfigError("metrics must list at least one metric")


@dataclass(frozen=True, kw_only=True)
class Tuning:
    """The hyperparameter search of the ``tune`` stage (:mod:`bench.tune`): one budget for every method.

    Attributes:
        n_trials: trials per (scenario, method), the configured ``methods.<name>`` block being trial 0;
            0 = tuning off (the configured params are used as they are, nothing is fitted).
        timeout_seconds: optional equal wall-clock budget per (scenario, method); no new trial starts
            after it (None = trials only). Makes the number of trials machine-dependent.
        metric: validation objective ``<metric>@<k>`` (a registered ranking metric) of the ranking
            kinds (top-N; transfer: on the target domain), computed on the split's ``valid`` part
            with full ranking, training items excluded. Test is never read.
        mtl_metric: validation objective of the multi-task kind, on the valid impressions:
            ``mean_auc`` (the mean of the click, like and ctcvr AUCs, so no task is favoured) or
            one ``<task>_auc``.
        seed: seed of the TPE sampler; trial ``t`` fits with seed ``(seed, t)``.
        pruning: stop unpromising trials of epoch-based methods early (median rule on the
            per-epoch validation score of the early-stopping loop).
    """

    n_trials: int = 0
    timeout_seconds: float | None = None
    metric: str = "ndcg@10"
    mtl_metric: str = "mean_auc"
    seed: int = 0
    pruning: bool = True

    def __post_init__(self) -> None:
        if self.n_trials < 0:
            raise ConfigError(f"n_trials must be >= 0 (0 = tuning off), got {self.n_trials}")
        if self.timeout_seconds is not None and not self.timeout_seconds > 0:
            raise ConfigError(f"timeout_seconds must be > 0 or null, got {self.timeout_seconds}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        self.metric_and_k()
        allowed = ("mean_auc", "click_auc", "like_auc", "ctcvr_auc")
        if self.mtl_metric not in allowed:
            raise ConfigError(f"mtl_metric must be one of {list(allowed)}, got {self.mtl_metric!r}")

    def metric_and_k(self) -> tuple[str, int]:
        """``("ndcg", 10)`` for ``metric: ndcg@10``; a :class:`ConfigError` names the valid metrics."""
        from bench.metrics.ranking import METRICS

        name, _, k = self.metric.partition("@")
        if name not in METRICS or not k.isdigit() or int(k) <= 0:
            raise ConfigError(
                f"metric must be <metric>@<k> with k > 0 and a metric in {sorted(METRICS)}, "
                f"got {self.metric!r}"
            )
        return name, int(k)


@dataclass(frozen=True, kw_only=True)
class Grid:
    """The run cells of one scenario family: every scenario x method x seed."""

    scenarios: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()


@dataclass(frozen=True)
class Params:
    """Validated view of ``params.yaml``; ``raw`` keeps the file's mapping for provenance."""

    path: Path
    raw: Mapping[str, Any]
    seeds: tuple[int, ...]
    datasets: Mapping[str, Mapping[str, Any]]
    scenarios: Mapping[str, Scenario]
    evaluation: Evaluation
    pairs: Mapping[str, CategoryPair] = field(default_factory=dict)
    grids: Mapping[str, Grid] = field(default_factory=dict)
    methods: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    tuning: Tuning = field(default_factory=Tuning)

    def where(self, *keys: str) -> str:
        return f"{self.path.name}: " + ".".join(keys)

    def scenario(self, name: str) -> Scenario:
        try:
            return self.scenarios[name]
        except KeyError:
            raise ConfigError(
                f"{self.where('scenarios')}: unknown scenario {name!r}; declared scenarios are "
                f"{sorted(self.scenarios)}"
            ) from None

    def dataset_options(self, name: str) -> Any:
        """The dataset's validated prepare options (``bench.data.prepare.PrepareOptions``)."""
        from bench.data.prepare import PrepareOptions

        if name not in self.datasets:
            raise ConfigError(
                f"{self.where('datasets')}: unknown dataset {name!r}; declared datasets are "
                f"{sorted(self.datasets)}"
            )
        return parse_dataclass(PrepareOptions, self.datasets[name], where=self.where("datasets", name))

    def method_params(self, name: str) -> Mapping[str, Any]:
        """The hyperparameters of ``methods.<name>`` (without the ``method:`` key of a named
        configuration)."""
        if name not in self.methods:
            raise ConfigError(
                f"{self.where('methods')}: no block for method {name!r}; add `{name}: {{}}` to use "
                f"its defaults. Blocks present: {sorted(self.methods)}"
            )
        return {k: v for k, v in (self.methods[name] or {}).items() if k != NAMED_METHOD_KEY}

    def base_method(self, name: str) -> str:
        """The registered method behind ``name``: itself, or for a named configuration (a block
        with ``method: <registered name>``, e.g. ``mmoe_census: {method: mmoe, preset:
        mmoe_paper_census}``) the method it configures. A named configuration may not reuse a
        registered name, so a cell's name says which block it ran."""
        block = self.methods.get(name) or {}
        base = block.get(NAMED_METHOD_KEY) if isinstance(block, Mapping) else None
        if base is None:
            return name
        from bench import methods

        where = self.where("methods", name, NAMED_METHOD_KEY)
        if not isinstance(base, str) or base not in methods.available():
            raise ConfigError(f"{where}: {base!r} is not a registered method; registered methods are "
                              f"{methods.available()}")
        if name in methods.available():
            raise ConfigError(f"{self.where('methods', name)}: {name!r} is a registered method; a named "
                              f"configuration of {base!r} needs a name of its own (e.g. {base}_{name})")
        return base

    def build_method(self, name: str) -> Any:
        """An unfitted method instance with validated hyperparameters."""
        from bench import methods

        return methods.build(self.base_method(name), self.method_params(name), where=self.where("methods", name))

    def named_configurations(self) -> dict[str, str]:
        """Every named configuration of ``methods``: name -> the registered method it configures."""
        return {name: self.base_method(name) for name, block in self.methods.items()
                if isinstance(block, Mapping) and NAMED_METHOD_KEY in block}

    def cells(self) -> list[tuple[str, str, int]]:
        """Every (scenario, method, seed) the grids declare, in a stable order."""
        return [
            (s, m, seed)
            for grid in self.grids.values()
            for s in grid.scenarios
            for m in grid.methods
            for seed in self.seeds
        ]

    def validate(self) -> None:
        """Cross-check every section: names exist, methods support their scenario kinds,
        hyperparameters parse (``recx check``, the report). Raises :class:`ConfigError` on the first
        problem."""
        self._check_datasets()
        self._check_metrics()
        for kind, grid in self.grids.items():
            for s in grid.scenarios:
                self._check_in_grid(kind, s)
            for m in grid.methods:
                self._check_method(kind, m)
                self.build_method(m)

    def validate_cell(self, scenario: str, method: str, seed: int | None = None) -> Scenario:
        """Validate only what one cell uses (its scenario, method block, seed, the evaluation) and
        return the scenario's settings: a run or tune stage checks and builds nothing else."""
        cfg = self.scenario(scenario)
        self._check_datasets(only=cfg.dataset)
        self._check_metrics()
        self._check_method(cfg.kind, method)
        if seed is not None and seed not in self.seeds:
            raise ConfigError(f"{self.where('seeds')}: seed {seed} is not listed in {list(self.seeds)}")
        return cfg

    def _check_datasets(self, only: str | None = None) -> None:
        known = {*self.datasets, *self.pairs}
        for name, scenario in self.scenarios.items():
            if (only is None or scenario.dataset == only) and scenario.dataset not in known:
                raise ConfigError(
                    f"{self.where('scenarios', name, 'dataset')}: unknown dataset "
                    f"{scenario.dataset!r}; declared datasets are {sorted(self.datasets)}"
                    + (f" and pairs {sorted(self.pairs)}" if self.pairs else "")
                )
        for name, pair in self.pairs.items():
            if name in self.datasets:
                raise ConfigError(f"{self.where('pairs', name)}: the name is also a key of datasets; "
                                  "a pair needs a name of its own")
            for key in ("first", "second"):
                if getattr(pair, key) not in self.datasets:
                    raise ConfigError(
                        f"{self.where('pairs', name, key)}: unknown dataset {getattr(pair, key)!r}; "
                        f"declared datasets are {sorted(self.datasets)}"
                    )

    def pair(self, name: str) -> CategoryPair:
        """The validated :class:`CategoryPair` called ``name``."""
        if name not in self.pairs:
            raise ConfigError(f"{self.where('pairs')}: unknown pair {name!r}; declared pairs are {sorted(self.pairs)}")
        self._check_datasets()
        return self.pairs[name]

    def _check_in_grid(self, kind: str, scenario: str) -> None:
        found = self.scenario(scenario).kind
        if found != kind:
            raise ConfigError(
                f"{self.where('grid', kind, 'scenarios')}: scenario {scenario!r} is of kind "
                f"{found!r}, not {kind!r}"
            )

    def _check_method(self, kind: str, method: str) -> None:
        from bench import methods

        from bench import kinds

        base = self.base_method(method)
        spec = methods.get(base)
        if kind not in spec.scenarios:
            why = kinds.get(kind).why_not(base)
            raise ConfigError(
                f"{self.where('grid', kind, 'methods')}: method {method!r} does not support "
                f"scenario kind {kind!r} (it supports {sorted(spec.scenarios)})"
                + (f": not applicable, {why}" if why else "")
                + f"; methods for {kind!r} are {methods.available(kind)}"
            )

    def _check_metrics(self) -> None:
        from bench.metrics import METRICS

        unknown = sorted(set(self.evaluation.metrics) - set(METRICS))
        if unknown:
            raise ConfigError(
                f"{self.where('evaluation', 'metrics')}: unknown metric(s) {unknown}; valid metrics "
                f"are {sorted(METRICS)}"
            )


def load_params(path: Path = Path("params.yaml")) -> Params:
    """Read and structurally validate ``params.yaml`` (see module docstring)."""
    path = Path(path)
    raw = _read_yaml(path)

    def where(*keys: str) -> str:
        return f"{path.name}: " + ".".join(keys)

    return Params(
        path=path,
        raw=raw,
        seeds=_seeds(raw.get("seeds"), where("seeds")),
        datasets=_datasets(raw.get("datasets"), where),
        scenarios=_scenarios(raw.get("scenarios"), where),
        evaluation=parse_dataclass(Evaluation, raw.get("evaluation"), where=where("evaluation")),
        pairs={
            name: parse_dataclass(CategoryPair, body, where=where("pairs", name))
            for name, body in _mapping(raw.get("pairs"), where("pairs")).items()
        },
        grids=_grids(raw.get("grid"), where),
        methods=_mapping(raw.get("methods"), where("methods")),
        tuning=parse_dataclass(Tuning, raw.get("tuning"), where=where("tuning")),
    )


def _read_yaml(path: Path) -> Mapping[str, Any]:
    raw = read_params_yaml(path)
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{path.name}: unknown section(s) {unknown}; valid sections are {list(SECTIONS)}")
    return raw


def read_params_yaml(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The mapping of a params file, with ``extends: OTHER.yaml`` resolved.

    A profile may start from another params file (``extends`` is relative to the profile's folder)
    and give only what differs: mappings merge key by key, recursively; any other value (a list such
    as a grid's ``scenarios``, a number, a string) replaces the base's. ``profiles/paper.yaml``
    extends ``params.yaml`` this way.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found; run from the repository root or pass --params")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    raw = dict(raw)
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise ConfigError(f"{path.name}: extends must be a path to a params file, got {base!r}")
    base_path = (path.parent / base).resolve()
    if base_path in _seen or base_path == path.resolve():
        raise ConfigError(f"{path.name}: extends {base!r} forms a cycle")
    return _merge(read_params_yaml(base_path, (*_seen, path.resolve())), raw)


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _seeds(seeds: Any, where: str) -> tuple[int, ...]:
    if not isinstance(seeds, list) or not seeds:
        raise ConfigError(f"{where}: must be a non-empty list of integers, got {seeds!r}")
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ConfigError(f"{where}: seeds must be non-negative integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{where}: seeds must be distinct, got {seeds!r}")
    return tuple(seeds)


def _datasets(value: Any, where) -> dict[str, Any]:
    datasets = _mapping(value, where("datasets"))
    for name, opts in datasets.items():
        if opts is not None and not isinstance(opts, Mapping):
            raise ConfigError(f"{where('datasets', name)}: expected a mapping of prepare options")
    return datasets


def _scenarios(value: Any, where) -> dict[str, Scenario]:
    """Each block parsed by the settings class of its kind's row (:mod:`bench.kinds`)."""
    from bench import kinds

    scenarios = {}
    for name, body in _mapping(value, where("scenarios")).items():
        body = dict(body or {})
        if "name" in body:
            raise ConfigError(f"{where('scenarios', name)}: `name` is implied by the key; remove it")
        kind = kinds.get(body.get("kind"), where=where("scenarios", name, "kind"))
        scenarios[name] = parse_dataclass(
            kind.resolve("settings"), {**body, "name": name}, where=where("scenarios", name)
        )
    return scenarios


def _grids(value: Any, where) -> dict[str, Grid]:
    from bench import kinds

    grids = {}
    for kind, body in _mapping(value, where("grid")).items():
        kinds.get(kind, where=where("grid"))
        grid = parse_dataclass(Grid, body, where=where("grid", kind))
        for key in ("scenarios", "methods"):
            values = getattr(grid, key)
            if len(set(values)) != len(values):
                raise ConfigError(f"{where('grid', kind, key)}: duplicate entries in {list(values)}")
        grids[kind] = grid
    return grids


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {value!r}")
    return dict(value)
