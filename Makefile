# `make repro` runs the benchmark, `make test` the test suite. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export DVC_NO_ANALYTICS := 1

.PHONY: repro test bench clean-venv

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

bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest benchmarks --benchmark-only \
		--benchmark-json=benchmarks/results.json $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
