#!/usr/bin/env bash
# Every test: unit, store suites on SQLite and PostgreSQL, black-box integration over loopback.
# PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) must be reachable; tests fail, never skip.
set -euo pipefail
cd "$(dirname "$0")/.."
export VEXA_TEST_PG_URL="${VEXA_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo build --locked --workspace --all-targets
# The end-to-end tests drive the real binary; build it once up front.
cargo test --locked --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-4}"
