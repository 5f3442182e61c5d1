"""Code fingerprints: a cell's fingerprint covers its method's module, the helpers it imports and its
kind's harness, changes with any code edit on that path and ignores documentation (docstrings,
comments, blank lines); a plugin outside this repository is fingerprinted over its own package."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from bench import fingerprint as F
from bench import methods as registry
from bench.kinds import KINDS as RUNNERS


def _clear() -> None:
    for fn in (F._source, F._tree, F._tree_sha256):
        fn.cache_clear()


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch) -> Path:
    """An importable plugin package ``fp_plugin`` whose method imports a helper of its own."""
    pkg = tmp_path / "fp_plugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helper.py").write_text("SCALE = 2.0\n")
    (pkg / "method.py").write_text(textwrap.dedent('''
        """A plugin method (docstring)."""
        from dataclasses import dataclass

        from bench.methods import Config, register
        from fp_plugin.helper import SCALE


        @dataclass(frozen=True, kw_only=True)
        class FPConfig(Config):
            pass


        @register("fp_plugin_method", config=FPConfig, scenarios=("topn",))
        class FPMethod:
            def __init__(self, config):
                self.config = config

            def fit(self, data, *, rng, valid=None):
                self.scale_ = SCALE
                return self
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.load_plugins()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    import fp_plugin.method  # noqa: F401  (registers the method)

    _clear()
    yield pkg
    for name in [m for m in sys.modules if m.startswith("fp_plugin")]:
        del sys.modules[name]
    _clear()


def test_builtin_fingerprint_covers_method_helpers_and_harness():
    _clear()
    fp = F.fingerprint("topn", "mf")
    assert {"methods.mf", "methods._torch", "bench.methods"} <= set(fp.modules)
    assert {"bench.run", "bench.cells", "bench.cells.topn", "bench.evaluate", "bench.metrics.ranking",
            "bench.splits.types", "bench.tune"} <= set(fp.modules)
    assert "bench.cells.mtl" not in fp.modules and "methods.ease" not in fp.modules
    assert not any(m.startswith("bench.data") or m.startswith("bench.report") for m in fp.modules)
    assert {"torch", "numpy", "scipy"} <= set(fp.packages) and fp.plugin is None
    ease = F.fingerprint("topn", "ease")
    assert "methods._torch" not in ease.modules  # ease does not import the torch helpers
    mtl = F.fingerprint("mtl", "mmoe")
    assert {"bench.cells.mtl", "methods._mtl_torch"} <= set(mtl.modules) and "bench.cells.topn" not in mtl.modules
    tune = F.fingerprint(F.TUNE, "mf")  # the tune stages: the method and the tuner's path only
    assert {"methods.mf", "methods._torch", "bench.tune", "bench.evaluate"} <= set(tune.modules)
    assert not {"bench.run", "bench.cells.topn", "bench.provenance"} & set(tune.modules)
    # only the tuners of the kinds the method supports: editing the transfer tuner leaves the
    # tuning of a top-N method up to date
    assert "bench.tuners.topn" in tune.modules and not {"bench.tuners.cdr", "bench.tuners.mtl"} & set(tune.modules)
    assert "bench.tuners.cdr" in F.fingerprint(F.TUNE, "cmf").modules
    assert fp.python == tune.python == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_documentation_edits_keep_the_fingerprint_and_code_edits_change_it(plugin):
    before = F.fingerprint("topn", "fp_plugin_method")
    assert {"fp_plugin", "fp_plugin.method", "fp_plugin.helper"} <= set(before.modules)
    assert before.plugin == {"distribution": None}  # not installed from a distribution

    method = plugin / "method.py"
    text = method.read_text()
    method.write_text(text.replace('"""A plugin method (docstring)."""',
                                   '"""Edited documentation."""\n# a new comment\n\n'))
    _clear()
    assert F.fingerprint("topn", "fp_plugin_method") == before

    (plugin / "helper.py").write_text("SCALE = 3.0\n")
    _clear()
    after = F.fingerprint("topn", "fp_plugin_method")
    assert after.modules["fp_plugin.helper"] != before.modules["fp_plugin.helper"]
    assert {k: v for k, v in after.modules.items() if k != "fp_plugin.helper"} == {
        k: v for k, v in before.modules.items() if k != "fp_plugin.helper"}


def test_write_fingerprints_one_file_per_kind_and_method(tmp_path):
    _clear()
    written = F.write_fingerprints(tmp_path / "fp", echo=lambda _: None)
    names = {p.relative_to(tmp_path / "fp").as_posix() for p in written}
    assert {"topn/ease.json", "mtl/mmoe.json", "cdr_warm/disencdr.json", "cdr_cold/disencdr.json",
            "tune/ease.json", "tune/mmoe.json"} <= names
    assert all(p.parent.name in {*RUNNERS, F.TUNE} for p in written)
    doc = json.loads((tmp_path / "fp" / "topn" / "ease.json").read_text())
    assert doc["method"] == "ease" and doc["class"] == "methods.ease.EASE"
    assert doc["modules"] == dict(sorted(doc["modules"].items()))  # stable order: same bytes each run
    again = F.write_fingerprints(tmp_path / "fp2", echo=lambda _: None)
    assert [p.read_bytes() for p in written] == [p.read_bytes() for p in again]


def _edited(monkeypatch, tmp_path: Path, module: str, old: str, new: str) -> None:
    """Make the fingerprint read ``module`` from an edited copy (``old`` -> ``new``)."""
    path, is_package = F._source(module)
    text = path.read_text()
    assert old in text, old
    copy = tmp_path / f"{module}.py"
    copy.write_text(text.replace(old, new, 1))
    real = F._source.__wrapped__
    _clear()
    monkeypatch.setattr(F, "_source", F.cache(lambda name: (copy, is_package) if name == module else real(name)))


@pytest.mark.parametrize("module, old, new, changed, unchanged", [
    # another kind's settings class: only that kind's cells and its methods' tuning
    ("bench.config", "    split: Literal[\"temporal_global\", \"per_user_temporal\"] = \"temporal_global\"",
     "    split: Literal[\"temporal_global\", \"per_user_temporal\"] = \"per_user_temporal\"",
     [("mtl", "mmoe"), (F.TUNE, "mmoe")], [("topn", "mf"), (F.TUNE, "mf"), ("cdr_warm", "cmf")]),
    # a base class shared by the two transfer kinds
    ("bench.config", "class CDRScenario(Scenario):", "class CDRScenario(Scenario):\n    _EDIT = 1",
     [("cdr_warm", "cmf"), ("cdr_cold", "emcdr")], [("topn", "mf"), ("mtl", "mmoe")]),
    # one kind's row of the kind table
    ("bench.kinds", 'references=("target_only", "pooled", "finetune"),', 'references=("target_only", "pooled"),',
     [("cdr_warm", "cmf")], [("topn", "mf"), ("mtl", "mmoe"), ("tabular_mtl", "mmoe")]),
    # shared code still counts for everyone
    ("bench.config", "class Tuning:", "class Tuning:\n    _EDIT = 1",
     [("topn", "mf"), ("mtl", "mmoe"), ("cdr_warm", "cmf")], []),
])
def test_an_edit_of_one_kind_restales_only_that_kinds_cells(monkeypatch, tmp_path, module, old, new,
                                                            changed, unchanged):
    """A module shared by every cell path (bench.config, bench.kinds, bench.methods) is hashed per
    kind: the definitions that only other kinds use are left out of a cell's view of it."""
    _clear()
    before = {c: F.fingerprint(*c).modules[module] for c in changed + unchanged}
    _edited(monkeypatch, tmp_path, module, old, new)
    after = {c: F.fingerprint(*c).modules[module] for c in changed + unchanged}
    assert all(after[c] != before[c] for c in changed), changed
    assert all(after[c] == before[c] for c in unchanged), unchanged
    _clear()
