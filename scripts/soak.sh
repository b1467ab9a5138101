#!/usr/bin/env bash
# `make soak`: 10 minutes (SOAK_SECONDS) of mixed traffic at a fixed rate (SOAK_RATE req/s)
# against `target/release/vexa up` on a fresh SQLite data dir, RSS sampled every 10 s; the report
# lands in bench/SOAK.md (SOAK_REPORT). SOAK_MINTS=0 replaces the 2 % of admin mints by reads (the
# database then stays the same size); SOAK_SERVER_ENV="K=V ..." adds server settings (for example
# VEXA_SQLITE_POOL=4). Exits non-zero when any answer was unexpected.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE="${SOAK_RATE:-200}"
DURATION="${SOAK_SECONDS:-600}"
REPORT="${SOAK_REPORT:-bench/SOAK.md}"
BIN="$PWD/target/release/vexa"

cargo build --release --locked -p vexa --bin vexa --example soak
DRIVER="$PWD/target/release/examples/soak"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DIR="$(mktemp -d -t vexa-soak.XXXXXX)"
GW_PORT="$(free_port)"; ADMIN_PORT="$(free_port)"; MEET_PORT="$(free_port)"
TOKEN="soak-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT

# A clean environment (no .env from the repo applies: the server runs in the temp dir).
(cd "$DIR" && exec env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
  BIND_HOST=127.0.0.1 API_GATEWAY_HOST_PORT="$GW_PORT" ADMIN_API_PORT="$ADMIN_PORT" \
  MEETINGS_API_PORT="$MEET_PORT" DATABASE_URL="sqlite://$DIR/vexa.db" DATA_DIR="$DIR" \
  ADMIN_TOKEN="$TOKEN" GUARD_ENABLED=false LOG_FORMAT=json ${SOAK_SERVER_ENV:-} \
  "$BIN" up >"$DIR/up.log" 2>&1) &
SERVER_PID=$!

for port in "$GW_PORT" "$ADMIN_PORT" "$MEET_PORT"; do
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null; then break; fi
    sleep 0.1
  done
  curl -fsS -o /dev/null "http://127.0.0.1:$port/health" || { echo "vexa up did not become healthy:" >&2; tail -20 "$DIR/up.log" >&2; exit 1; }
done

mkdir -p "$(dirname "$REPORT")"
"$DRIVER" "http://127.0.0.1:$GW_PORT" "http://127.0.0.1:$ADMIN_PORT" "$TOKEN" "$SERVER_PID" \
  "$RATE" "$DURATION" "$REPORT" "${SOAK_MINTS:-1}"
