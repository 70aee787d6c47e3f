# wagate — the two commands: `make run` and `make test`.

SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CARGO ?= cargo
# Where `make run` keeps its database, logs, media and browser profiles.
DATA_DIR ?= $(CURDIR)/data

# The schema-driven fuzzer of `make test` (tests/api/fuzz.rs), from PyPI, in a venv of its own.
SCHEMATHESIS_VERSION := 4.32.5
SCHEMATHESIS_VENV ?= $(HOME)/.cache/wagate/schemathesis-$(SCHEMATHESIS_VERSION)
PYTHON ?= python3
# Cases per API operation in `make test` (two backends, about a minute each on 2 cores).
FUZZ_EXAMPLES ?= 100

.PHONY: run test deps fuzz-deps cluster-deps build demo bench install lint fmt clean

## Build and start the gateway on SQLite at http://127.0.0.1:8080
run: deps build
	mkdir -p "$(DATA_DIR)"
	WAGATE__DATA_DIR="$(DATA_DIR)" ./target/release/wagate migrate
	WAGATE__DATA_DIR="$(DATA_DIR)" ./target/release/wagate serve

## The whole test suite. PostgreSQL variants run when WAGATE_TEST_POSTGRES_URL is set (.ci/run sets it).
## The end-to-end suite runs against the simulator's 2026-01 WhatsApp Web (the default), then again
## against its 2026-09 one (WAGATE_TEST_SIM_ERA), minus the modules that do not depend on the page
## (ERA_SKIP: no simulator at all, or the gateway's own machinery — cluster leases, the database
## spool, queue pacing, metrics — whose page calls the other modules cover in both eras); that keeps
## CI well under 30 minutes on 2 cores. Then schemathesis fuzzes the live OpenAPI document, on
## SQLite and on PostgreSQL. Each run names --workspace, so its features, and so its test binary, are
## the first run's: no second build.
ERA_SKIP := auth cli database envelope openapi outbound sessions_offline cluster durability queue metrics
test: deps fuzz-deps cluster-deps
	$(CARGO) test --workspace
	WAGATE_TEST_SIM_ERA=2026-09 $(CARGO) test --workspace --test api -- $(foreach m,$(ERA_SKIP),--skip $(m)::)
	WAGATE_SCHEMATHESIS="$(SCHEMATHESIS_VENV)/bin/schemathesis" WAGATE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
		$(CARGO) test --workspace --test api fuzz:: -- --ignored --test-threads=1

## schemathesis in $(SCHEMATHESIS_VENV), unless it is there already (Debian needs python3-venv for a venv).
fuzz-deps:
	@if ! "$(SCHEMATHESIS_VENV)/bin/schemathesis" --version 2>/dev/null | grep -q "$(SCHEMATHESIS_VERSION)"; then \
		rm -rf "$(SCHEMATHESIS_VENV)"; \
		if ! $(PYTHON) -m venv "$(SCHEMATHESIS_VENV)" >/dev/null 2>&1; then \
			rm -rf "$(SCHEMATHESIS_VENV)"; \
			echo "installing: python3-venv"; \
			$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv; \
			$(PYTHON) -m venv "$(SCHEMATHESIS_VENV)"; \
		fi; \
		"$(SCHEMATHESIS_VENV)/bin/pip" install -q --disable-pip-version-check "schemathesis==$(SCHEMATHESIS_VERSION)"; \
	fi

## moto (a local S3-compatible server, from PyPI) for the cluster's S3 test, in a venv of its own.
## tests/api/cluster.rs makes the same venv itself when it is missing.
MOTO_VERSION := 5.2.5
MOTO_VENV ?= $(HOME)/.cache/wagate/moto-$(MOTO_VERSION)
cluster-deps:
	@if [ ! -x "$(MOTO_VENV)/bin/moto_server" ]; then \
		rm -rf "$(MOTO_VENV)"; \
		$(PYTHON) -m venv "$(MOTO_VENV)" && \
		"$(MOTO_VENV)/bin/pip" install -q --disable-pip-version-check "moto[server]==$(MOTO_VERSION)"; \
	fi

build:
	$(CARGO) build --release --bin wagate

## Try it without a phone: wagate-sim plays WhatsApp Web and the phone (see the printed URLs).
demo: deps
	$(CARGO) build --release --bins -p wagate -p wagate-sim
	./scripts/demo.sh

## Installs what is missing from Debian's packages: Chromium, chromedriver, SQLite headers, a C toolchain.
deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	command -v cc >/dev/null || missing="$$missing build-essential"; \
	command -v pkg-config >/dev/null || missing="$$missing pkg-config"; \
	pkg-config --exists sqlite3 2>/dev/null || missing="$$missing libsqlite3-dev"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

## Numbers, not pass/fail: the release gateway against wagate-sim (BENCH_SESSIONS, BENCH_SENDS).
bench: deps
	@command -v wrk >/dev/null || $(SUDO) apt-get install -y -qq wrk
	$(CARGO) build --release --bins -p wagate -p wagate-bench
	./target/release/wagate-bench

## Installs the release binary, the systemd unit and a production config (not overwritten).
install: build
	$(SUDO) install -m 0755 target/release/wagate /usr/local/bin/wagate
	$(SUDO) install -m 0644 config/wagate.service /etc/systemd/system/wagate.service
	$(SUDO) install -d -m 0755 /etc/wagate
	[ -f /etc/wagate/wagate.toml ] || $(SUDO) install -m 0640 config/production.toml.example /etc/wagate/wagate.toml
	id wagate >/dev/null 2>&1 || $(SUDO) useradd --system --home-dir /var/lib/wagate --shell /usr/sbin/nologin wagate
	$(SUDO) systemctl daemon-reload || true
	@echo "installed: edit /etc/wagate/wagate.toml, then: systemctl enable --now wagate"

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
