# edgeqa: `make demo` and `make test` work on a fresh Debian/Ubuntu host, as root.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EDGEQA := $(VENV)/bin/edgeqa
# The sandbox rootfs is cached outside the checkout so that clean clones reuse it.
export EDGEQA_SANDBOX_DIR ?= /var/cache/edgeqa/sandbox
APT_PACKAGES := mmdebstrap sip-tester espeak-ng sox libsox-fmt-all python3-venv python3-dev gcc \
                ca-certificates
STAMP := $(VENV)/.edgeqa-installed

.PHONY: all setup apt venv sandbox test test-unit test-nox test-integration lint demo bench clean

all: test

## apt packages (only what is missing; never adds sid to the host's sources)
apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "edgeqa: need root to apt-get install:$$missing" >&2; exit 1; fi; \
	  echo "apt-get install:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml setup.py $(wildcard ext/*.pyx ext/*.pxd)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,fast,plot]'
	@touch $@

venv: apt $(STAMP)

setup: venv
	$(EDGEQA) sandbox build

sandbox: setup

lint: venv
	$(VENV)/bin/ruff check edgeqa tests bench
	$(VENV)/bin/mypy --strict edgeqa

## the whole suite: unit + parity + integration with the extension, then unit + parity without it
# pytest exits 5 when it collected nothing: say so, and fail, since a green run must prove tests ran.
PYTEST_RC = rc=$$?; [ $$rc -eq 5 ] && echo "make: pytest collected no tests" >&2; exit $$rc

test: setup lint
	$(PY) -m pytest -q tests || { $(PYTEST_RC); }
	EDGEQA_NO_EXTENSIONS=1 $(PY) -m pytest -q tests/unit tests/parity || { $(PYTEST_RC); }

test-unit: venv
	$(PY) -m pytest -q tests/unit tests/parity

test-nox: venv
	EDGEQA_NO_EXTENSIONS=1 $(PY) -m pytest -q tests/unit tests/parity

test-integration: setup
	$(PY) -m pytest -q tests/integration

demo: setup
	$(EDGEQA) demo

bench: venv
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf build $(VENV) *.egg-info edgeqa/**/*.so ext/*.c
