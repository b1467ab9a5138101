#!/usr/bin/env bash
# `make fuzz`: the property/fuzz suites of `make test`, with many more cases each.
#   FUZZ_CASES      cases of the in-process targets (key parsing, admin JSON bodies), default 100000
#   FUZZ_NET_CASES  cases of the over-the-wire gateway targets (headers, identity, paths), default 5000
# cargo-fuzz needs a nightly toolchain; these targets run on stable through proptest, so the same
# generators serve both the bounded run in `make test` and this long one.
set -euo pipefail
cd "$(dirname "$0")/.."
export VEXA_TEST_PG_URL="${VEXA_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
CASES="${FUZZ_CASES:-100000}"
NET_CASES="${FUZZ_NET_CASES:-5000}"
started=$(date +%s)

echo "== key parsing, mint round trip, checksum, email, scopes: $CASES cases each"
PROPTEST_CASES="$CASES" cargo test --locked --release -p vexa-core --test it -- --nocapture props::

echo "== admin API JSON bodies and query strings: $CASES cases"
PROPTEST_CASES="$CASES" cargo test --locked --release -p vexa-admin --test it -- --nocapture fuzz_bodies::

echo "== gateway request pipeline over loopback (header bytes, identity spoofing, paths): $NET_CASES cases each"
PROPTEST_CASES="$NET_CASES" cargo test --locked --release -p vexa-gateway --test it -- --nocapture \
  abuse::identity::fuzzed_identity_headers abuse::header_bytes::random_header_bytes abuse::paths::fuzzed_paths

echo "fuzz: done in $(( $(date +%s) - started )) s"
