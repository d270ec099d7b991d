# spp-lab: `make run` and `make test` are the whole quick start.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
EXP     ?= experiments.yaml

.PHONY: run test lint bench gpu-check mutate clean-venv publish

$(BIN)/python:
	@echo "make: creating $(VENV) (once)"
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Reinstall only when the project's dependencies change.
$(STAMP): pyproject.toml | $(BIN)/python
	@echo "make: installing spp-lab and its dependencies (torch, Lightning, W&B, Ray, timm, ...)"
	@echo "      into $(VENV): several minutes, once; then only when pyproject.toml changes"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/spp-lab run $(EXP)

# Two pytest processes (pytest-xdist; worksteal evens out the long tests): 7 to 14
# minutes on 2-core Xeons (2026-12-05; the same suite's CPU time varied by 1.4x between
# runs). No test bounds wall time; see docs/reliability.md.
test: $(STAMP)
	$(BIN)/ruff check spp_lab tests benchmarks ablations
	$(BIN)/python -m pytest -q -n 2 --dist worksteal tests

lint: $(STAMP)
	$(BIN)/ruff check spp_lab tests benchmarks ablations

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# Mutation testing of the core (config in pyproject.toml), from scratch: about two hours on 2 cores.
# Prints the kill rate and the survivors; tests/mutation_survivors.md lists the equivalent
# ones, with the reason.
mutate: $(STAMP)
	rm -rf mutants
	$(BIN)/mutmut run || true
	$(BIN)/python -m benchmarks.mutation_score

# On a machine with a CUDA GPU: pytest -m cuda (every switch on the device, the CUDA
# kernels), python -m benchmarks spp device --device cuda, and the default grid, smoke and
# in full (about 4 minutes on one H100).
gpu-check: $(STAMP)
	$(BIN)/python -m benchmarks.gpu_check

clean-venv:
	rm -rf $(VENV)

# Copy generated reports into docs/results/ (committed; results/ itself is git-ignored).
publish:
	@for d in results/*/report; do n=$$(basename $$(dirname $$d)); \
	  mkdir -p docs/results/$$n && cp $$d/*.md $$d/*.png $$d/*.csv $$d/*.tex $$d/*.html \
	    docs/results/$$n/ 2>/dev/null; \
	  echo "docs/results/$$n"; done
