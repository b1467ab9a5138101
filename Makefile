# vexa — two commands: `make all` brings the stack up and prints a key; `make test` runs every test.
SHELL := /bin/bash
CARGO ?= cargo
BIN := target/release/vexa

.PHONY: all build down status test bench demo fuzz soak provision-token check-toolchain

all: build .env
	@$(BIN) start
	@$(BIN) provision-token --banner

build: check-toolchain
	@$(CARGO) build --release --locked -p vexa

check-toolchain:
	@command -v $(CARGO) >/dev/null 2>&1 || { echo "cargo not found: install Rust (https://rustup.rs) and re-run" >&2; exit 1; }

.env:
	@cp .env.example .env && echo "wrote .env from .env.example (edit ADMIN_TOKEN before exposing anything)"

down:
	@if [ -x $(BIN) ]; then $(BIN) stop; else echo "vexa is not built; nothing to stop"; fi

status:
	@$(BIN) status

# Prints one freshly minted key on stdout and nothing else; on failure exactly one line on stderr
# (the reason) and a non-zero exit. The command runs through $(shell) so that make's own
# "*** Error" line does not add a second line.
provision-token:
	$(if $(wildcard $(BIN)),,$(error vexa is not built or the stack is down: run 'make all' first))
	$(eval _PT_OUT := $(shell $(if $(ADMIN_TOKEN),ADMIN_TOKEN='$(ADMIN_TOKEN)') $(BIN) provision-token 2>&1))
	$(if $(filter 0,$(.SHELLSTATUS)),@echo '$(_PT_OUT)',$(error $(_PT_OUT)))

# The stack with the development bot (joins no real meeting; see README).
demo: build .env
	@BOT_COMMAND="$(CURDIR)/$(BIN) mock-bot" $(BIN) start
	@$(BIN) provision-token --banner

test: check-toolchain
	@scripts/test.sh

bench: build
	@scripts/bench.sh

fuzz:
	@scripts/fuzz.sh

soak: build
	@scripts/soak.sh
