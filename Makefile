# turbomqtt developer tasks. `make help` lists them; CI runs `make test` (see .ci/run).
.DEFAULT_GOAL := help
PYTHON ?= python3
PIP := $(PYTHON) -m pip
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## install what the tests need: mosquitto and mosquitto_pub (apt-get, where missing) and the Python tools
	@{ command -v mosquitto >/dev/null 2>&1 || command -v /usr/sbin/mosquitto >/dev/null 2>&1; } && \
		command -v mosquitto_pub >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq mosquitto mosquitto-clients; }
	$(PIP) install -q --disable-pip-version-check 'maturin>=1.7,<2' 'pytest>=7' 'pytest-timeout>=2' 'paho-mqtt>=2.1' 'gmqtt>=0.8' 'ruff>=0.5' 'mypy>=1.10' 'cryptography>=41' 'hypothesis>=6' 'psutil>=5'

.PHONY: dev
dev: ## build and install the package from this tree
	$(PIP) install -q --disable-pip-version-check .

.PHONY: lint
lint: ## rustfmt, clippy -D warnings, ruff, mypy and stubtest (needs `make dev`)
	cargo fmt --check
	cargo clippy --all-targets --locked -- -D warnings
	$(PYTHON) -m ruff check python tests benches
	$(PYTHON) -m mypy
	$(PYTHON) -m mypy.stubtest turbomqtt._core

.PHONY: test
test: deps dev ## everything CI checks: cargo test, the lints, pytest against a real mosquitto
	cargo test --locked
	$(MAKE) lint
	$(PYTHON) -m pytest -q

.PHONY: bench
bench: dev ## run the benchmarks side by side with the plain-Python / paho references
	$(PYTHON) benches/bench_token.py
	$(PYTHON) benches/bench_clients.py

# The reliability suite (tests/reliability/): fault proxy, forced disconnects, black holes,
# hostile broker, RSS/fd/thread counts, Hypothesis. CI runs it at SOAK_SCALE=1 inside
# `make test` (about 3 minutes); `make soak` multiplies every count by SOAK_SCALE
# (10 gives 1,000 cuts per delivery test, 1,000,000 messages, 10,000 connect cycles,
# 3,000 Hypothesis examples and a 5 MB RSS bound) and prints the measured figures.
SOAK_SCALE ?= 10
RELIABILITY_FIGURES ?= reliability-figures.json
# The session fuzzers (src/session/tests/fuzz/, proptest): `cargo test` runs 1,500/1,000 cases
# per property from a fixed seed in about 25 s; `make soak` runs FUZZ_CASES per property from a
# random seed through proptest's own PROPTEST_CASES (about 4 minutes at 20,000 on 2 cores).
# PROPTEST_RNG_SEED=<n> replays a run.
FUZZ_CASES ?= 20000

.PHONY: reliability
reliability: ## the reliability suite at CI size (tests/reliability), with its figures
	$(PYTHON) -m pytest tests/reliability -q -rxX

.PHONY: soak
soak: ## the session fuzzers with FUZZ_CASES cases, then the reliability suite scaled by SOAK_SCALE
	PROPTEST_CASES=$(FUZZ_CASES) cargo test --locked --lib session::tests::fuzz -- --nocapture --test-threads=1
	SOAK_SCALE=$(SOAK_SCALE) RELIABILITY_FIGURES=$(RELIABILITY_FIGURES) \
		$(PYTHON) -m pytest tests/reliability -q -rxX -p no:cacheprovider
