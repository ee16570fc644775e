# Craton HSM developer entry points.  `make test` is what CI runs.
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
LIB := build/libcraton_hsm.so
STAMP := $(VENV)/.craton-installed

.PHONY: venv build test demo lint clean fuzz bench docs

venv: $(STAMP)

$(STAMP): pyproject.toml
	@if [ ! -x $(VPY) ]; then \
	  $(PYTHON) -c 'import sys, sysconfig; sys.exit(0 if sysconfig.get_config_var("Py_ENABLE_SHARED") == 1 else 1)' \
	  || { echo "error: $(PYTHON) has no shared libpython (Py_ENABLE_SHARED != 1);" \
	            "libcraton_hsm.so must embed one. Rebuild Python with --enable-shared" \
	            "(pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install 3.11)." >&2; exit 1; }; \
	  $(PYTHON) -m venv $(VENV); \
	fi
	$(VPY) -m pip install -q -e '.[test]'
	@touch $@

# The integrity manifest (docs/selftests.md) is rewritten on every build:
# with the editable install any edit of craton_hsm/ changes what the
# library runs, and C_Initialize refuses a package that differs from it.
build: $(LIB)
	$(VPY) tools/write_manifest.py $(LIB)

$(LIB): $(STAMP) $(wildcard ffi/*) $(wildcard cbindings/*)
	$(VPY) ffi/build_hsm.py

test: build
	tools/install-test-deps.sh
	$(VPY) -m pytest -q tests $(wildcard conformance)

demo: build
	$(VPY) tools/demo.py

# The C ABI fuzzer (docs/fuzzing.md): one libFuzzer process over the
# built .so; prints executions, exec/s and findings, fails on a finding.
FUZZ_RUNS ?= 1000000
FUZZ_TIME ?= 0
fuzz: build
	$(VPY) tests/fuzz/run.py --runs $(FUZZ_RUNS) --time $(FUZZ_TIME)

# The documentation site (mkdocs.yml; docs/ plus the repo-root fips/
# pages, see tools/mkdocs_hooks.py) into site/; any warning fails.
docs: venv
	$(VENV)/bin/mkdocs build --strict

# Issue 9: Craton HSM against SoftHSMv2 and raw OpenSSL, side by side on
# this machine; writes bench/REPORT.md (bench/run.sh, bench/make_report.py).
# BENCH_SECONDS, BENCH_ROUNDS, BENCH_ONLY narrow a run.
bench: build
	VPY=$(VPY) bench/run.sh

lint: venv
	$(VENV)/bin/ruff check craton_hsm ffi tests tools
	$(VENV)/bin/mypy craton_hsm
	$(VENV)/bin/lint-imports
	$(VPY) tools/gen_ck.py --check

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
