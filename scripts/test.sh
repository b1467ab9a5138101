#!/usr/bin/env bash
# Every test: unit, store suites on SQLite and PostgreSQL, black-box integration over loopback
# (real binary, real child processes), property tests, and the official Python client.
# PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) must be reachable; tests fail, never skip.
set -euo pipefail
cd "$(dirname "$0")/.."
export VEXA_TEST_PG_URL="${VEXA_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# The console's browser tests drive Debian's Chromium through chromedriver; install both when
# either is missing (quiet, and a no-op when they are there).
if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq >/dev/null
  "${as_root[@]}" apt-get install -y -qq chromium chromium-driver >/dev/null
fi
# Criterion benchmarks are not tests: `cargo test` builds lib, bin and test targets only.
# Each crate's integration tests are one binary (`crates/<crate>/tests/it`, harnesses from
# `vexa-testkit`), so a full run links 6 integration binaries, not one per test file; the
# binaries run one after another, each with TEST_THREADS tests in parallel.
cargo test --locked --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-4}"
