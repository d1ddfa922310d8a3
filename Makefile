# Two commands set everything up on a fresh machine:  make demo  and  make test.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := build/demo
CA := $(BIN)/coder-assist -p $(DEMO)

.PHONY: demo test bench clean venv

venv: $(STAMP)

# Exact pins come from constraints.txt; torch==2.13.0 resolves to the CPU build on disk.
$(STAMP): constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/coder-assist --coder demo init $(DEMO) --name "B2B relationships demo"
	$(CA) ingest fixtures/wave1 --wave 1 --attributes fixtures/participants.csv
	$(CA) ingest fixtures/wave2 --wave 2
	$(CA) sources
	$(CA) search "the new CFO changed how the supplier is judged" -k 3 --side buyer
	$(CA) code --provider offline --dry-run
	$(CA) code --provider offline
	$(CA) suggestions --status proposed | head -n 8
	$(CA) --coder demo accept 1 2 3
	$(CA) --coder demo reject 4 --note "too generic"
	$(CA) --coder demo review --accept-where "source~okafor and in_vivo=true" --yes
	$(CA) codes | head -n 8
	$(CA) --coder demo review --accept-where "wave=1 and side=buyer and in_vivo=false" --yes | tail -n 1
	$(CA) --coder demo categorize | head -n 4
	$(CA) --coder demo categories accept 1
	$(CA) --coder demo map --framework ivpd --level code
	$(CA) --coder demo memo draft --category 1 | head -n 24
	$(CA) saturation | tail -n 3
	$(CA) --coder demo posture --case northwind-facilities | head -n 14
	$(CA) eval --gold fixtures/gold/constructs.jsonl --framework ivpd | head -n 3
	$(CA) export qdpx $(DEMO)/study.qdpx
	$(CA) audit verify
	$(CA) status
	@echo ""
	@echo "Demo project: $(DEMO)  (database $(DEMO)/project.db, vector index $(DEMO)/index/)"
	@echo "Review the rest, one key per decision: $(BIN)/coder-assist -p $(DEMO) --coder YOUR-NAME review"
	@echo "Try: $(BIN)/coder-assist -p $(DEMO) search 'promises made in the bid' --side supplier"
	@echo "For NVivo, ATLAS.ti, MAXQDA or QualCoder: $(DEMO)/study.qdpx (REFI-QDA)"

# The suite runs twice: on SQLite (the default store), then with every project on a throwaway
# PostgreSQL server (Debian's postgresql package; .ci/run installs it). Without the server binaries
# the second run is left out with a line saying so, except in CI, where it fails.
test: $(STAMP)
	$(BIN)/python -m pytest -q
	@if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "$$CI" ]; then \
		echo "== the same suite on the PostgreSQL store"; \
		CODER_ASSIST_TEST_STORE=postgresql $(BIN)/python -m pytest -q; \
	else \
		echo "left out: the suite on PostgreSQL (no initdb; install Debian's postgresql package)"; \
	fi

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis
