# Two commands matter: `make run` and `make test` (see README). Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: run test test-fast bench bench-profile bench-transform bench-assess bench-privacy bench-dp-audit bench-quality bench-tables bench-sequences bench-sampling bench-gates bench-api peers install install-dev browser clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch first, pinned to the CPU build that lies on this machine's disk; pyproject's range
# admits it, so the editable install below downloads no other build.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet "torch==2.13.0" || $(PIP) install --quiet "torch>=2.3,<2.15"
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: $(VENV)/.installed
	$(PY) -m app

browser:
	bash scripts/ensure_chromium.sh

test: $(VENV)/.installed-dev browser
	$(PY) -m pytest

test-fast: $(VENV)/.installed-dev
	$(PY) -m pytest -m "not browser"

bench: bench-profile bench-transform bench-assess bench-sampling bench-quality

bench-profile: $(VENV)/.installed-dev
	$(PY) tests/bench/bench_profile.py

bench-transform: $(VENV)/.installed-dev
	$(PY) tests/bench/bench_transform.py

bench-assess: $(VENV)/.installed-dev
	$(PY) tests/bench/bench_assess.py

bench-privacy: $(VENV)/.installed-dev
	$(PY) tests/bench/bench_privacy.py

# The one-run privacy audit (Steinke, Nasr & Jagielski 2023) of DP-SGD training on adult: ARGN
# at epsilon 1, 4 and 10 plus a non-DP control (about 10 minutes on 2 busy CPU cores).
bench-dp-audit: $(VENV)/.installed-dev
	$(PY) tests/bench/bench_dp_audit.py

bench-sampling: $(VENV)/.installed-dev
	$(PY) tests/bench/bench_sampling.py

# Gate calibration (issue 22): every known-good and known-bad case on the four single tables at
# 1,000 / 5,000 / 25,000 training rows; the confusion table per gate (model outputs cached).
bench-gates: $(VENV)/.installed-dev
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) tests/bench/bench_gates.py --out bench-results/gates.jsonl

# The models issue's protocol on four datasets; the peers (SDV, mostlyai-engine) run in a
# throwaway venv (`make peers`) and are skipped when it is absent.
bench-quality: $(VENV)/.installed-dev
	bash tests/judge/ensure_judge_venv.sh
	$(PY) tests/bench/bench_quality.py --datasets adult,california,mushroom,nyc

# issue 18: Doppel's relational model beside SDV HMA and MOSTLY AI (peers venv), judged by
# engine.assess_tables and SDMetrics' multi-table QualityReport (judge venv)
bench-tables: $(VENV)/.installed-dev
	bash tests/judge/ensure_judge_venv.sh
	$(PY) tests/bench/bench_tables.py --datasets berka,baseball --models doppel,hma,mostly

# issue 19: Doppel's sequence model beside mostlyai-engine (sequential, entity table as context) and
# SDV's PARSynthesizer (both in the peers venv: `make peers` first), judged by engine.assess_sequences
bench-sequences: $(VENV)/.installed-dev
	$(PY) tests/bench/bench_sequences.py --datasets nasdaq,beijing --models doppel,mostly,par

# issue 20: the REST API over loopback (stream and samples latency, 100 clients, the limiter, memory
# over a 10-minute stream); quiet machine only. A smoke run: $(PY) tests/bench/bench_api.py --quick
bench-api: $(VENV)/.installed-dev
	$(PY) tests/bench/bench_api.py --out bench-results/api.json

peers:
	bash tests/bench/peers/setup_peers.sh

clean:
	rm -rf $(VENV) .doppel .pytest_cache
