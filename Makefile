# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs what it needs (torch==2.13.0 first: a CPU build on local disk).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,envs,minari]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/hjepa two-rooms --name demo --overwrite

# Speed and memory figures for benchmarks/RESULTS.md (the demo runs once more, measured).
bench: $(STAMP)
	$(BIN)/python benchmarks/env_throughput.py
	$(BIN)/python benchmarks/planning_speed.py
	$(BIN)/python benchmarks/demo_memory.py
	$(BIN)/python benchmarks/update_results.py

test: $(STAMP)
	MUJOCO_GL=egl $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
