# anju — the project's commands. `make` (or `make help`) lists them.
# Everything the targets need is installed by the scripts they call (deploy/stack.sh,
# deploy/tools.sh): Postgres, NATS JetStream, nats-server, buf, pgbench.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

STACK := deploy/stack.sh
# Every target that talks to Postgres or NATS first runs `$(STACK) up`, then sources this.
STACK_ENV := . .anju/stack.env
# nextest profile from .config/nextest.toml: `ci` when CI=true, else `default`.
NEXTEST_PROFILE ?= $(if $(filter true 1 yes,$(CI)),ci,default)
export NEXTEST_PROFILE
# Extra arguments for the test runner, e.g. make test TEST_ARGS='-E "package(anju-sales)"'
TEST_ARGS ?=

.PHONY: help run build test image-check lint lint-rust lint-proto lint-deploy fmt bench up status down

help:
	@echo "anju make targets:"
	@echo "  make run         start Postgres + NATS, build, run every service (anju serve --target all), check health, run the demo"
	@echo "  make test        the whole test suite (cargo nextest, or cargo test) against real Postgres and NATS"
	@echo "  make image-check the binary the container image ships (its release build), run as the image runs it"
	@echo "  make lint        rustfmt check, clippy -D warnings, buf lint, the deployment's checks"
	@echo "  make lint-proto  buf lint only"
	@echo "  make lint-deploy Kubernetes manifests (schemas, policy), alert rules (promtool), dashboards"
	@echo "  make fmt         cargo fmt --all"
	@echo "  make bench       pgbench baseline, then the anju benchmarks (release build)"
	@echo "  make build       cargo build --workspace"
	@echo "  make up          start/verify the local stack only; writes .anju/stack.env"
	@echo "  make status      what the local stack uses and whether it answers"
	@echo "  make down        stop what this checkout started (anju serve, private Postgres/NATS)"

build:
	cargo build --workspace

run:
	deploy/run.sh

test:
	$(STACK) up
	$(STACK_ENV); \
	export PROMETHEUS_BIN=$$(deploy/tools.sh prometheus); \
	if cargo nextest --version >/dev/null 2>&1; then \
	  cargo nextest run --workspace --no-fail-fast $(TEST_ARGS); \
	else \
	  cargo test --workspace --no-fail-fast $(TEST_ARGS); \
	fi

# The container image's binary, built by the Dockerfile's own command, run as the image runs it
# (services/anju/tests/binary.rs). No container engine is needed; the image is this binary on
# distroless.
image-check:
	$(STACK) up
	cargo build --release --locked -p anju --bin anju
	$(STACK_ENV); \
	export ANJU_IMAGE_BINARY="$(CURDIR)/target/release/anju"; \
	if cargo nextest --version >/dev/null 2>&1; then \
	  cargo nextest run -p anju --test binary -E 'test(/the_image/)'; \
	else \
	  cargo test -p anju --test binary the_image; \
	fi

lint: lint-proto lint-rust lint-deploy

lint-rust:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

lint-proto:
	BUF=$$(deploy/tools.sh buf); "$$BUF" lint

lint-deploy:
	deploy/k8s/check.sh
	PROMTOOL=$$(deploy/tools.sh promtool); \
	  "$$PROMTOOL" check rules deploy/prometheus/alerts.yaml && \
	  cd deploy/prometheus && "$$PROMTOOL" test rules alerts.test.yaml

fmt:
	cargo fmt --all

# The pgbench figures are the baseline: deploy/bench/pgbench.sh writes .anju/bench/pgbench.txt
# (tps_1=…, tps_64=…), and anju-bench reads pgbench.txt from ANJU_BENCH_DIR (tests/src/bench).
bench:
	$(STACK) up
	deploy/bench/pgbench.sh
	$(STACK_ENV); \
	ANJU_BENCH_DIR="$(CURDIR)/.anju/bench" \
	  cargo run --release -p anju-e2e --bin anju-bench

up:
	$(STACK) up

status:
	$(STACK) status

down:
	$(STACK) down
