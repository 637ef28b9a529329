# Accord: the two set-up commands are `make demo` and `make test` (see README.md).
PYTHON ?= python3
UV := $(PYTHON) -m uv
VENV_STAMP := .venv/.synced

.PHONY: demo test lint unit bench fuzz bootstrap clean

bootstrap: $(VENV_STAMP)

# Installs uv with pip when missing, then every dependency from uv.lock (and nothing else).
$(VENV_STAMP): pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv>=0.5"
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

demo: $(VENV_STAMP)
	$(UV) run --frozen accord demo

lint: $(VENV_STAMP)
	$(UV) run --frozen ruff format --check src tests
	$(UV) run --frozen ruff check src tests
	$(UV) run --frozen mypy --strict src/
	$(UV) run --frozen lint-imports --no-cache

# The contract suite (ADR 0021): the tests of federation, requests, evidence and audit that
# store anything run a second time with every node on a PostgreSQL server they start (the
# unit ones, and the end-to-end ones of delivery, the protocol's HTTP API and the audit CLI;
# about 10 minutes on a loaded 2-core machine).
CONTRACT := tests/unit/db/test_postgresql.py tests/unit/audit/test_audit_log.py \
	tests/unit/federation/test_mailbox.py tests/unit/federation/test_outbox_worker.py \
	tests/unit/evidence/test_lifecycle.py tests/unit/evidence/test_transfer.py \
	tests/unit/requests/test_request_nodes.py tests/unit/requests/test_request_evidence.py \
	tests/unit/requests/test_request_invariants.py tests/unit/requests/test_request_convergence.py \
	tests/unit/requests/test_request_node_convergence.py \
	tests/unit/requests/test_request_registry_pinning.py \
	tests/integration/test_delivery_e2e.py tests/integration/test_federation_http.py \
	tests/integration/test_audit_cli.py tests/integration/test_key_rotation.py

unit: $(VENV_STAMP)
	$(UV) run --frozen pytest
	$(UV) run --frozen pytest --database postgresql $(CONTRACT)

test: lint unit

# The fuzzers of tests/fuzz (and the OpenAPI fuzzer) at length: 5,000 examples per parser;
# `make test` runs 60. Failures found are kept in .hypothesis/ and tried first next time.
fuzz: $(VENV_STAMP)
	ACCORD_FUZZ_EXAMPLES=5000 $(UV) run --frozen python -m pytest tests/fuzz tests/integration/test_openapi_fuzz.py -p no:cacheprovider -o addopts="" --timeout=7200

bench: $(VENV_STAMP)
	$(UV) run --frozen python -m pytest tests/bench -s -p no:cacheprovider -o addopts="" --timeout=1800

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache
