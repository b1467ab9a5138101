#!/usr/bin/env bash
# Mint rate of the admin API on SQLite and on PostgreSQL (release build, loopback, one process).
# Usage: scripts/mint_rate.sh [TOTAL] [CONCURRENCY]; prints one JSON line per backend.
set -euo pipefail
cd "$(dirname "$0")/.."
TOTAL="${1:-3000}"; CONC="${2:-16}"
cargo build --release --locked -q -p vexa --bin vexa --example mint_rate
work="$(mktemp -d)"; trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
token="mint-rate-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
pg_db="vexa_mint_rate_$$"
psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $pg_db" >/dev/null
for backend in sqlite postgres; do
  if [ "$backend" = sqlite ]; then url="sqlite://$work/vexa.db"; else url="postgres://postgres@127.0.0.1:5432/$pg_db"; fi
  port=$((20000 + RANDOM % 20000))
  DATABASE_URL="$url" ADMIN_TOKEN="$token" ADMIN_API_PORT="$port" API_GATEWAY_HOST_PORT=$((port + 1)) \
    MEETINGS_API_PORT=$((port + 2)) DATA_DIR="$work/data" LOG_LEVEL=warn \
    target/release/vexa admin-api >"$work/$backend.log" 2>&1 & pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  printf '%s ' "$backend"
  target/release/examples/mint_rate "http://127.0.0.1:$port" "$token" "$TOTAL" "$CONC"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE $pg_db WITH (FORCE)" >/dev/null
