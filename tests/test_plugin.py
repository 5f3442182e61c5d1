"""The example plugin in examples/plugin, really installed (pip, into a scratch folder), is found
through the `recxbench.methods` entry point group, listed by `recx methods` and runnable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PLUGIN = REPO_ROOT / "examples" / "plugin"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("src") / "plugin"
    shutil.copytree(PLUGIN, source)  # build in a copy: pip writes build/ next to the sources
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(source)],
        check=True, cwd=source, capture_output=True, text=True,
    )
    return target


def _env(site: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    return env


def test_installed_plugin_is_listed(plugin_site):
    recx = Path(sys.executable).with_name("recx")
    out = subprocess.run([str(recx), "methods"], env=_env(plugin_site), capture_output=True, text=True, check=True)
    assert "recent_pop" in out.stdout
    assert "ease" in out.stdout  # built-ins still there


def test_installed_plugin_fits_and_scores(plugin_site):
    code = """
import numpy as np, pandas as pd
from bench import methods
from bench.interactions import Interactions
m = methods.build("recent_pop", {"half_life_days": 1.0})
frame = pd.DataFrame({"user": [0, 1, 2], "item": [0, 1, 1], "rating": [5.0, 5.0, 5.0],
                      "timestamp": [0, 86400 * 10, 86400 * 10]})
data = Interactions.from_frame(frame, 4, 3)
assert m.fit(data, rng=np.random.default_rng(0)) is m
s = m.score(np.array([0, 3]))
assert s.shape == (2, 3) and s[0].argmax() == 1 and s[0, 2] == 0.0, s
print("OK", methods.get("recent_pop").cls.__module__)
"""
    out = subprocess.run([sys.executable, "-c", code], env=_env(plugin_site), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "OK recx_example_plugin" in out.stdout


def test_unknown_method_lists_valid_ones():
    from bench import methods
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match="registered methods are"):
        methods.get("no_such_method")
