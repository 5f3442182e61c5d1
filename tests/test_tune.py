"""The tune stage (issue 7) on a tiny synthetic split: test data is never touched, same seed -> same
params, trial 0 is the configured block, failing trials are recorded and skipped, pruning through the
torch early-stopping loop, the tuning section is validated, and `run --tuned` uses the result."""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
import yaml

from bench import methods, progress
from bench.config import TopNScenario, load_params
from tests.conftest import REPO_ROOT
from bench.data.tables import PreparedDataset
from bench.errors import ConfigError, DataError, MethodError
from bench.methods import Config, FloatRange, MethodSpec
from bench.run import run_cell
from bench.splits.build import build_split
from bench.splits.types import Split, sha256_file
from bench.tune import read_train_valid, tune_cell
from methods import _torch as T

optuna.logging.set_verbosity(optuna.logging.WARNING)

PARAMS = {
    "seeds": [0],
    "datasets": {"toy": {}},
    "scenarios": {"toy-topn": {"kind": "topn", "dataset": "toy", "split": "leave_last_out"}},
    "evaluation": {"ks": [5, 10], "metrics": ["recall", "ndcg"], "topk_saved": 10},
    "grid": {"topn": {"scenarios": ["toy-topn"], "methods": ["pop", "ease", "itemknn", "mf"]}},
    "methods": {"pop": {}, "ease": {"reg": 200.0}, "itemknn": {}, "mf": {"epochs": 12, "device": "cpu"}},
    "tuning": {"n_trials": 4, "seed": 0},
}


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> Path:
    """A leave-last-out split of 40 users x 30 items with some structure (two taste groups)."""
    tmp = tmp_path_factory.mktemp("tune")
    rng = np.random.default_rng(0)
    n_users, n_items = 40, 30
    users = np.repeat(np.arange(n_users), 10)
    items = np.concatenate(
        [rng.choice(np.arange(u % 2, n_items, 2) if rng.random() < 0.8 else n_items, 10, replace=False) for u in range(n_users)]
    )
    inter = pd.DataFrame(
        {"user": users, "item": items, "rating": 5.0, "timestamp": rng.integers(0, 10_000, len(users)), "domain": "toy"}
    )
    data = PreparedDataset(
        "toy", inter, pd.DataFrame({"user": np.arange(n_users)}), pd.DataFrame({"item": np.arange(n_items)}), {}
    )
    data.write(tmp / "prepared")
    scenario = TopNScenario(name="toy-topn", dataset="toy", split="leave_last_out")
    build_split(scenario, prepared=tmp / "prepared", out=tmp / "split")
    return tmp / "split"


def _params(tmp_path: Path, mutate=None):
    raw = copy.deepcopy(PARAMS)
    if mutate is not None:
        mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_params(path)


def _tune(tmp_path, split, method, out="tuned", mutate=None):
    params = _params(tmp_path, mutate)
    return tune_cell(params, scenario="toy-topn", method=method, split=split, out=tmp_path / out)


# ----------------------------------------------------------------------------- params.yaml: tuning
@pytest.mark.parametrize(
    ("tuning", "message"),
    [
        ({"n_trails": 3}, r"params.yaml: tuning: unknown key\(s\) \['n_trails'\]; valid keys are \['metric', 'mtl_metric', 'n_trials'"),
        ({"n_trials": -1}, r"tuning: n_trials must be >= 0"),
        ({"metric": "auc@10"}, r"tuning: metric must be <metric>@<k>.*'ndcg'"),
        ({"metric": "ndcg"}, r"tuning: metric must be <metric>@<k>"),
        ({"timeout_seconds": 0}, r"tuning: timeout_seconds must be > 0"),
        ({"pruning": "yes"}, r"tuning.pruning: expected true/false"),
    ],
)
def test_bad_tuning_section_is_rejected_naming_the_key(tmp_path, tuning, message):
    with pytest.raises(ConfigError, match=message):
        _params(tmp_path, lambda r: r.update(tuning=tuning))


def test_tuning_section_defaults_to_off(tmp_path):
    params = _params(tmp_path, lambda r: r.pop("tuning"))
    assert params.tuning.n_trials == 0 and params.tuning.metric == "ndcg@10"


# ----------------------------------------------------------------------------- protocol
def test_n_trials_zero_returns_configured_params_without_fitting(tmp_path, split, monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("nothing may be fitted or read with n_trials: 0")

    monkeypatch.setattr(methods.get("ease").cls, "fit", no_fit)
    monkeypatch.setattr("bench.tune.read_train_valid", no_fit)
    result = _tune(tmp_path, split, "ease", mutate=lambda r: r["tuning"].update(n_trials=0))
    assert result.params == {"reg": 200.0}
    best = json.loads((tmp_path / "tuned" / "best.json").read_text())
    assert best["params"] == best["configured"] == {"reg": 200.0}
    assert best["params_source"] == "configured" and best["best_valid"] is None
    trials = pd.read_csv(tmp_path / "tuned" / "trials.csv")
    assert len(trials) == 0 and "param.reg" in trials.columns


def test_default_is_trial_zero_and_tuning_never_loses_to_it(tmp_path, split):
    result = _tune(tmp_path, split, "ease")
    trials = pd.read_csv(tmp_path / "tuned" / "trials.csv")
    assert len(trials) == 4 and trials["state"].eq("COMPLETE").all()
    assert trials.loc[0, "default"] and not trials.loc[1:, "default"].any()
    assert trials.loc[0, "param.reg"] == 200.0
    best = result.best
    assert best["default_valid"] == pytest.approx(trials.loc[0, "value"])
    assert best["best_valid"] == pytest.approx(trials["value"].max())
    assert best["best_valid"] >= best["default_valid"]
    assert best["params"]["reg"] == pytest.approx(trials.loc[best["best_trial"], "param.reg"])
    assert best["n_trials"] == 4 and best["sampler"] == {"name": "TPESampler", "seed": 0, "n_startup_trials": 1}
    assert best["optuna_version"] == optuna.__version__
    assert set(trials.columns) >= {"number", "state", "value", "seconds", "error"}


def test_configured_value_outside_the_declared_space_is_still_trial_zero(tmp_path, split):
    result = _tune(tmp_path, split, "ease", mutate=lambda r: r["methods"]["ease"].update(reg=0.25))
    assert result.best["search_space"]["reg"]["low"] == 0.25  # widened to contain the default
    assert pd.read_csv(tmp_path / "tuned" / "trials.csv").loc[0, "param.reg"] == 0.25


def test_same_seed_chooses_the_same_params(tmp_path, split):
    a = _tune(tmp_path, split, "itemknn", out="a")
    b = _tune(tmp_path, split, "itemknn", out="b")
    assert a.params == b.params and a.best["best_valid"] == b.best["best_valid"]
    cols = ["number", "state", "value", "param.k", "param.shrink"]
    pd.testing.assert_frame_equal(a.trials[cols], b.trials[cols])
    c = _tune(tmp_path, split, "itemknn", out="c", mutate=lambda r: r["tuning"].update(seed=1))
    assert c.trials["param.k"].tolist() != a.trials["param.k"].tolist()  # the seed matters


def _poisoned_copies(split: Path, tmp_path: Path) -> dict[str, Path]:
    """Three copies of ``split`` whose test part is garbage bytes, missing, or replaced by other
    (valid, manifest-consistent) interactions."""
    out = {}
    for kind in ("garbage", "deleted", "relabelled"):
        folder = tmp_path / f"split-{kind}" / "toy-topn"
        shutil.copytree(split, folder)
        test = folder / "test.parquet"
        if kind == "garbage":
            test.write_bytes(b"\x00not a parquet file" * 50)
        elif kind == "deleted":
            test.unlink()
        else:
            frame = pd.read_parquet(test)
            frame["item"] = np.random.default_rng(1).permutation(frame["item"].to_numpy())[::-1]
            frame.to_parquet(test, index=False)
            manifest = json.loads((folder / "manifest.json").read_text())
            manifest["sha256"]["test.parquet"] = sha256_file(test)
            (folder / "manifest.json").write_text(json.dumps(manifest))
        out[kind] = folder
    return out


@pytest.mark.parametrize("method", ["itemknn", "mf"])
def test_poisoned_test_part_leaves_tuning_unchanged(tmp_path, split, method, monkeypatch):
    clean = _tune(tmp_path, split, method, out="clean")
    poisoned = _poisoned_copies(split, tmp_path)
    with pytest.raises(DataError, match="test.parquet"):  # the poison is real: a full read fails
        Split.read(poisoned["garbage"])

    opened: list[str] = []
    real_read = pd.read_parquet
    monkeypatch.setattr(pd, "read_parquet", lambda path, *a, **k: opened.append(Path(path).name) or real_read(path, *a, **k))
    cols = ["number", "state", "value", f"param.{next(iter(methods.get(method).search_space))}"]
    for kind, folder in poisoned.items():
        result = _tune(tmp_path, folder, method, out=f"tuned-{kind}")
        assert result.params == clean.params, kind
        assert result.best["best_valid"] == clean.best["best_valid"], kind
        pd.testing.assert_frame_equal(result.trials[cols], clean.trials[cols])
    assert opened and "test.parquet" not in opened
    assert set(opened) == {"train.parquet", "valid.parquet"}


def test_read_train_valid_has_no_test_and_verifies_hashes(split, tmp_path):
    data = read_train_valid(split)
    assert not hasattr(data, "test")
    assert data.train.nnz > 0 and data.valid.nnz > 0
    folder = tmp_path / "s"
    shutil.copytree(split, folder)
    frame = pd.read_parquet(folder / "valid.parquet")
    frame.iloc[:3].to_parquet(folder / "valid.parquet", index=False)
    with pytest.raises(DataError, match=r"valid.parquet: sha256 .* does not match the manifest"):
        read_train_valid(folder)


# ----------------------------------------------------------------------------- failures
@dataclass(frozen=True, kw_only=True)
class _FlakyConfig(Config):
    x: float = 0.1
    crash_below: float = 0.3
    search_space: ClassVar = {"x": FloatRange(0.0, 1.0)}


class _Flaky:
    """Test double: popularity scores, but ``fit`` raises when ``x < crash_below``."""

    def __init__(self, config):
        self.config = config

    def fit(self, data, *, rng, valid=None):
        if self.config.x < self.config.crash_below:
            raise RuntimeError(f"boom at x={self.config.x:.3f}")
        self.pop_ = np.asarray(data.matrix.sum(axis=0)).ravel().astype(np.float32) * self.config.x
        return self

    def score(self, users):
        return np.tile(self.pop_, (len(users), 1))


@pytest.fixture
def flaky(monkeypatch):
    monkeypatch.setitem(methods._REGISTRY, "flaky", MethodSpec("flaky", _Flaky, _FlakyConfig, frozenset({"topn"})))

    def mutate(raw, **config):
        raw["grid"]["topn"]["methods"].append("flaky")
        raw["methods"]["flaky"] = config
        raw["tuning"]["n_trials"] = 5

    return mutate


def test_crashing_trial_is_recorded_and_skipped(tmp_path, split, flaky):
    result = _tune(tmp_path, split, "flaky", mutate=flaky)  # the default x=0.1 crashes
    trials = pd.read_csv(tmp_path / "tuned" / "trials.csv")
    assert trials.loc[0, "state"] == "FAIL" and "RuntimeError: boom at x=0.100" in trials.loc[0, "error"]
    assert len(trials) == 5 and trials["state"].eq("COMPLETE").any()
    assert result.best["default_valid"] is None and result.best["n_failed"] == trials["state"].eq("FAIL").sum()
    assert result.params["x"] >= 0.3


def test_all_trials_failing_is_a_clear_error(tmp_path, split, flaky):
    with pytest.raises(MethodError, match=r"flaky: every tuning trial on 'toy-topn' failed \(5 trials\): trial 0: RuntimeError: boom"):
        _tune(tmp_path, split, "flaky", mutate=lambda r: flaky(r, crash_below=2.0))
    assert not (tmp_path / "tuned").exists()


# ----------------------------------------------------------------------------- pruning
def test_progress_report_is_a_noop_without_a_listener():
    progress.report(1, 0.5)  # nothing installed: nothing happens
    seen = []
    with progress.reporting(lambda step, value: seen.append((step, value))):
        progress.report(3, 0.25)
    progress.report(4, 0.75)
    assert seen == [(3, 0.25)]


def test_pruning_reporter_stops_the_torch_early_stopping_loop(split):
    data = read_train_valid(split)
    model = methods.build("mf", {"epochs": 50, "patience": 1000, "device": "cpu"})
    seen = []

    def prune_at_two(step: int, value: float) -> None:
        seen.append(step)
        if step == 2:
            raise optuna.TrialPruned("pruned")

    with progress.reporting(prune_at_two), pytest.raises(optuna.TrialPruned):
        model.fit(data.train, rng=np.random.default_rng(0), valid=data.valid)
    assert seen == [1, 2]
    fitted = methods.build("mf", {"epochs": 3, "device": "cpu"}).fit(data.train, rng=np.random.default_rng(0), valid=data.valid)
    assert fitted.training_log_.epochs_run == 3  # without a listener the loop runs as before


@dataclass(frozen=True, kw_only=True)
class _EpochsConfig(Config):
    quality: float = 0.9
    epochs: int = 6
    search_space: ClassVar = {"quality": FloatRange(0.0, 1.0)}


class _Epochs:
    """Test double: an epoch-based method whose validation score per epoch is ``quality * epoch``,
    trained through the shared torch loop."""

    def __init__(self, config):
        self.config = config

    def fit(self, data, *, rng, valid=None):
        module = torch.nn.Linear(1, 1)
        state = {"epoch": 0}

        def run_epoch(epoch):
            state["epoch"] = epoch
            return 0.0

        self.log_ = T.train_epochs(
            module, run_epoch, T.TorchConfig(epochs=self.config.epochs, patience=100),
            evaluate=lambda: self.config.quality * state["epoch"], method="epochs",
        )
        self.pop_ = np.asarray(data.matrix.sum(axis=0)).ravel().astype(np.float32)
        return self

    def score(self, users):
        return np.tile(self.pop_ * self.config.quality, (len(users), 1))


def test_tuner_prunes_epoch_based_trials(tmp_path, split, monkeypatch):
    monkeypatch.setitem(methods._REGISTRY, "epochs", MethodSpec("epochs", _Epochs, _EpochsConfig, frozenset({"topn"})))
    monkeypatch.setattr("bench.tune.PRUNER_STARTUP_TRIALS", 1)
    monkeypatch.setattr("bench.tune.PRUNER_WARMUP_STEPS", 0)

    def mutate(raw):
        raw["grid"]["topn"]["methods"].append("epochs")
        raw["methods"]["epochs"] = {}
        raw["tuning"]["n_trials"] = 6

    result = _tune(tmp_path, split, "epochs", mutate=mutate)
    trials = result.trials
    assert trials.loc[0, "state"] == "COMPLETE"  # the default (quality 0.9) is never pruned
    pruned = trials[trials["state"] == "PRUNED"]
    assert len(pruned) >= 1 and result.best["n_pruned"] == len(pruned)
    assert (pruned["param.quality"] < 0.9).all() and pruned["pruned_at_step"].notna().all()
    no_pruning = _tune(tmp_path, split, "epochs", out="off", mutate=lambda r: (mutate(r), r["tuning"].update(pruning=False)))
    assert no_pruning.trials["state"].eq("COMPLETE").all() and no_pruning.best["pruner"] is None


# ----------------------------------------------------------------------------- run --tuned, CLI
def test_run_uses_tuned_params_and_records_the_tuning(tmp_path, split):
    from bench.cli import main

    params_path = _params(tmp_path).path
    assert main(["tune", "toy-topn", "ease", "--params", str(params_path), "--split", str(split), "--out", str(tmp_path / "t")]) == 0
    best = json.loads((tmp_path / "t" / "best.json").read_text())
    outcome = run_cell(
        load_params(params_path), scenario="toy-topn", method="ease", seed=0, split=split,
        out=tmp_path / "run", tuned=tmp_path / "t" / "best.json",
    )
    assert outcome.ok
    assert outcome.record["params"] == best["params"]
    assert outcome.record["tuning"]["n_trials"] == 4
    expected = "configured" if best["best_trial"] == 0 else "tuned"  # trial 0 = configured block
    assert outcome.record["tuning"]["params_source"] == best["params_source"] == expected
    assert outcome.record["tuning"]["best_valid"] == best["best_valid"] >= outcome.record["tuning"]["default_valid"]

    stale = _params(tmp_path, lambda r: r["methods"]["ease"].update(reg=7.0))
    with pytest.raises(ConfigError, match=r"best.json is stale: .*\['methods.ease'\] changed"):
        run_cell(stale, scenario="toy-topn", method="ease", seed=0, split=split, out=tmp_path / "run2", tuned=tmp_path / "t" / "best.json")


def test_run_with_tuning_off_uses_the_configured_block(tmp_path, split):
    off = lambda r: r["tuning"].update(n_trials=0)  # noqa: E731
    _tune(tmp_path, split, "ease", out="t", mutate=off)
    params = _params(tmp_path, lambda r: (off(r), r["methods"]["ease"].update(reg=50.0)))
    outcome = run_cell(params, scenario="toy-topn", method="ease", seed=0, split=split, out=tmp_path / "run", tuned=tmp_path / "t" / "best.json")
    assert outcome.ok and outcome.record["params"] == {"reg": 50.0}
    assert outcome.record["tuning"]["params_source"] == "configured"


def test_tuning_table_shows_budget_default_and_tuned(tmp_path, split):
    from bench.report.tuning import tuning_table

    result = _tune(tmp_path, split, "ease", out="tuning/toy-topn/ease")
    params = _params(tmp_path)
    md = tuning_table(params, tmp_path / "tuning")
    assert "## Tuning" in md and "4 trials" in md and "seed 0" in md
    row = next(line for line in md.splitlines() if line.startswith("| `ease`"))
    assert f"{result.best['default_valid']:.4f}" in row and f"{result.best['best_valid']:.4f}" in row
    assert "| 4 (4 / 0 / 0) |" in row
    assert next(line for line in md.splitlines() if line.startswith("| `mf`")) == "| `mf` | missing | | | | | |"
    assert md == tuning_table(params, tmp_path / "tuning")  # deterministic
    off = tuning_table(_params(tmp_path, lambda r: r["tuning"].update(n_trials=0)), tmp_path / "tuning")
    assert "Tuning was off" in off


def test_tuned_profile_gives_every_baseline_the_same_budget():
    from tests.conftest import REPO_ROOT

    params = load_params(REPO_ROOT / "profiles" / "tuned.yaml")
    params.validate()
    assert params.tuning.n_trials > 0 and params.tuning.metric == "ndcg@10"
    baselines = {"random", "pop", "itemknn", "puresvd", "ease", "als", "bpr", "mf", "multvae", "lightgcn"}
    assert set(params.grids["topn"].methods) == baselines
    for path in (REPO_ROOT / "params.yaml", REPO_ROOT / "profiles" / "ci.yaml"):
        assert load_params(path).tuning.n_trials == 0  # tuning stays opt-in


def test_every_table_is_marked_tuned_or_default(tmp_path):
    """The report's per-section line and per-table LaTeX note come from the tune stage's records:
    n_trials 0 everywhere -> defaults; a tuned scenario is named with its trials; a scenario with
    a method lacking its record is 'unknown', never called default."""
    from bench.report.tuning import hyperparameter_label, hyperparameter_note, hyperparameter_status

    def record(scenario, method, n_trials):
        path = tmp_path / scenario / method / "best.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"n_trials": n_trials}))

    record("a", "ease", 0)
    record("a", "pop", 0)
    record("b", "ease", 20)
    record("b", "pop", 20)
    record("c", "ease", 0)
    cells = {"a": ["ease", "pop"], "b": ["ease", "pop"], "c": ["ease", "pop"]}
    status = hyperparameter_status(tmp_path, cells)
    assert status == {"a": 0, "b": 20, "c": None}
    note = hyperparameter_note(status)
    assert "tuned on the validation part (a budget of 20 trials per method;" in note and "in `b`" in note
    assert "untuned, as configured in `a`" in note and "unknown (no tuning record) in `c`" in note
    assert "untuned, as configured in `methods.<name>`" in hyperparameter_note({"a": 0})
    assert hyperparameter_note(hyperparameter_status(None, cells)) == ""
    assert hyperparameter_label(0) == "untuned (configured hyperparameters)"
    assert hyperparameter_label(20) == "tuned hyperparameters (budget 20 trials per method)"
    assert hyperparameter_status(tmp_path, cells, tunable=False) == {"a": 0, "b": 0, "c": 0}


def test_a_named_configuration_runs_its_method_with_its_own_block(tmp_path):
    """`methods: mmoe_census: {method: mmoe, preset: mmoe_paper_census}` builds mmoe with that block
    under its own name; it is checked against its method's kinds, fingerprinted as its method, and a
    registered name cannot be reused for one."""
    from bench.fingerprint import write_fingerprints

    base = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    base["methods"]["mmoe_census"] = {"method": "mmoe", "preset": "mmoe_paper_census"}
    base["grid"]["mtl"]["methods"] = [*base["grid"]["mtl"]["methods"], "mmoe_census"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(base))
    params = load_params(tmp_path / "params.yaml")
    params.validate()
    model = params.build_method("mmoe_census")
    assert type(model).__name__ == "MMoE" and model.config.n_experts == 8 and model.config.batch_size == 32
    assert params.build_method("mmoe").config.n_experts == 4  # the plain block is untouched
    assert params.named_configurations() == {"mmoe_census": "mmoe"}
    written = write_fingerprints(tmp_path / "fp", named=params.named_configurations(), echo=lambda _: None)
    assert (tmp_path / "fp/mtl/mmoe_census.json").read_text() == (tmp_path / "fp/mtl/mmoe.json").read_text()
    assert tmp_path / "fp/tune/mmoe_census.json" in written
    for block, message in (({"method": "nope"}, "not a registered method"),
                           ({"method": "mmoe"}, "needs a name of its own")):
        bad = dict(base, methods={**base["methods"], "ple": block} if "own" in message else
                   {**base["methods"], "mmoe_census": block})
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(bad))
        with pytest.raises(ConfigError, match=message):
            load_params(tmp_path / "params.yaml").validate()


def test_pruning_sees_only_the_first_training_stage_of_a_trial():
    """single_task / finetune / emcdr / ptupcdr restart their epoch count per network: only the
    first stage's scores reach Optuna (comparable across trials); a restart ends the reporting."""
    import optuna

    from bench.tune import FirstStageReporter

    class Trial:
        number = 3

        def __init__(self, prune_at=None):
            self.reports, self.prune_at = [], prune_at

        def report(self, value, step):
            self.reports.append((step, value))

        def should_prune(self):
            return self.reports[-1][0] == self.prune_at

        def set_user_attr(self, key, value):
            self.attr = (key, value)

    trial = Trial()
    reporter = FirstStageReporter(trial)
    for step, value in [(1, 0.1), (2, 0.2), (3, 0.3), (1, 0.5), (2, 0.6), (4, 0.7)]:
        reporter(step, value)
    assert trial.reports == [(1, 0.1), (2, 0.2), (3, 0.3)]
    from bench import methods

    sequential = {m for m in methods.available() if not getattr(methods.get(m).cls, "prunable", True)}
    assert sequential == {"single_task", "finetune", "emcdr", "ptupcdr"}  # not pruned at all
    pruned = Trial(prune_at=2)
    reporter = FirstStageReporter(pruned)
    reporter(1, 0.0)
    with pytest.raises(optuna.TrialPruned):
        reporter(2, 0.0)
    assert pruned.attr == ("pruned_at_step", 2)
