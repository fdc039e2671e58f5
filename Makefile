# Shoal: `make demo` brings up a local 3-host cluster and tours it; `make test` runs the suite.
VENV := .venv
PY := $(VENV)/bin/python
SHOAL := $(VENV)/bin/shoal
PYTEST_ARGS ?=

.PHONY: setup demo test unit integration down protos bench

setup:
	./scripts/setup.sh

demo: setup
	-$(SHOAL) dev down
	$(SHOAL) dev up --hosts 3
	./scripts/demo.sh

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

unit: setup
	$(PY) -m pytest -q tests/unit $(PYTEST_ARGS)

integration: setup
	$(PY) -m pytest -q tests/integration $(PYTEST_ARGS)

down:
	$(SHOAL) dev down

# Benchmarks (not part of `make test`): each prints a table and writes bench/results/NAME.json.
bench: setup
	$(PY) -m bench.scheduler
	$(PY) -m bench.deploy
	$(PY) -m bench.overhead
	$(PY) -m bench.failover
	$(PY) -m bench.dns
	$(PY) -m bench.soak

protos:
	$(PY) -m shoal.protos.generate
