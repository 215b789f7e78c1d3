# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
DATA    ?= /usr/share/datasets/fashion-mnist
JOBS    ?= 2

.PHONY: setup demo test bench data clean

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed

# Debian's package when apt is there; else the IDX files from their public location.
data:
	@if [ ! -d "$(DATA)" ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -qq dataset-fashion-mnist || (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist)) >/dev/null; \
	  fi; \
	fi
	@if [ ! -d "$(DATA)" ]; then $(VPY) -m singa.datasets download --dest $(HOME)/.cache/singa/fashion-mnist; fi

demo: setup data
	$(VPY) examples/mnist_onnx.py --data $(DATA)

test: setup
	$(VPY) -m pytest -n $(JOBS) tests

bench: setup
	$(VPY) bench/train_cnn.py
	$(VPY) bench/infer.py

clean:
	rm -rf $(VENV) build *.egg-info
