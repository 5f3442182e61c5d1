# `make repro` runs the benchmark, `make test` the test suite. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export DVC_NO_ANALYTICS := 1

.PHONY: repro test bench bench-env ray clean-venv

$(STAMP): requirements.lock pyproject.toml
	@echo "make: installing the pinned dependencies into $(VENV) (first use: a few minutes)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# `recx repro` = `dvc repro` with independent stages (tune, run cells) in JOBS parallel processes.
# PROFILE=ci|tuned|... runs profiles/<PROFILE>.yaml in workspaces/<PROFILE>/ (never in reports/);
# ONLY=ease,mf runs only those methods' cells.
JOBS ?= 0
PROFILE ?= default
ONLY ?=
repro: $(STAMP)
	@echo "make repro: running the $(PROFILE) profile (recx repro --profile $(PROFILE) --jobs $(JOBS))"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/recx repro --profile $(PROFILE) --jobs $(JOBS) \
		$(if $(ONLY),--only $(ONLY),)

test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

# The optional Ray executor (`recx repro --executor ray`, README "Beyond one machine"): the pinned
# requirements-ray.lock on top of requirements.lock (the same on every node of a cluster).
RAY_STAMP := $(VENV)/.ray-installed
ray: $(RAY_STAMP)
$(RAY_STAMP): $(STAMP) requirements-ray.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock -r requirements-ray.lock
	touch $(RAY_STAMP)

bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest benchmarks --benchmark-only \
		--benchmark-json=benchmarks/results.json $(PYTEST_ARGS)

# Peers for side-by-side benchmarks (benchmarks/test_bench_peers.py), never runtime dependencies: a
# second environment that sees .venv's packages through a .pth file and adds the pinned peers.
BENCH_VENV := .venv-bench
bench-env: $(STAMP)
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -c "import sysconfig; print('import site; site.addsitedir(%r)' % sysconfig.get_paths(vars={'base': '$(CURDIR)/$(VENV)'})['purelib'])" \
		> "$$($(BENCH_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/recx-venv.pth"
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r benchmarks/requirements-peers.txt

clean-venv:
	rm -rf $(VENV) $(BENCH_VENV)
