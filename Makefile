# The two commands a newcomer needs are `make demo` and `make test`; each bootstraps .venv itself.
PY := .venv/bin/python

.PHONY: bootstrap demo ui test test-slow test-matrix lint wheel-smoke ci bench server

bootstrap:
	@bash scripts/bootstrap.sh

demo: bootstrap
	@$(PY) scripts/demo.py

# A local Airflow (api-server, scheduler, dag-processor, triggerer; SQLite) with the LLM batches
# page on demo data; prints the address and a login; Ctrl-C stops it. AUTH=fab: the FAB roles.
ui: bootstrap
	@$(PY) scripts/ui.py --port $(or $(PORT),8080) --auth $(or $(AUTH),simple)

test: bootstrap
	@$(PY) -m pytest $(PYTEST_ARGS)

# pytest exits 5 when nothing is marked slow; that is not a failure.
test-slow: bootstrap
	@$(PY) -m pytest -m slow $(PYTEST_ARGS) || test $$? -eq 5

# The default suite on Airflow 3.1, 3.2 and 3.3, one venv each (.venv-af3.x); LEGS="3.2 lowest" picks.
test-matrix: bootstrap
	@bash scripts/test_matrix.sh $(LEGS)

lint: bootstrap
	@bash scripts/lint.sh

wheel-smoke: bootstrap
	@bash scripts/wheel_smoke.sh

# Everything CI runs, with its table of legs (CI_LEGS="lint wheel" picks).
ci:
	@bash .ci/run

bench: bootstrap
	@$(PY) -m pytest tests/benchmarks -m benchmark -s -p no:cacheprovider $(PYTEST_ARGS)

server: bootstrap
	@$(PY) -m airflow_provider_batch.testing.server --host 127.0.0.1 --port 8765 --api-key local-test-key
