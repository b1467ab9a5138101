#!/usr/bin/env bash
# `make bench`: vexa's benchmarks, side by side, with a report.
#
#   scripts/bench.sh [all|micro|load|scale|report]     (default: all)
#
# - micro:  criterion micro-benchmarks (cargo bench -p vexa-bench --bench micro)
# - load:   side-by-side load over loopback, alternating, several rounds, medians:
#           (a) a minimal upstream directly, (b) nginx as a plain reverse proxy to it,
#           (c) the gateway with a valid key on /browser/x (BROWSER_API_URL = the upstream),
#           (d) the gateway with an invalid key, (e) the gateway's /auth/me,
#           (f)/(g) bare hyper proxies (diagnostics), and the peers a user would pick instead, all at
#           2 workers/threads and without access logs: (h) HAProxy plain, (i) HAProxy checking
#           X-API-Key against a 10k-entry map file and setting X-User-Id, (j) nginx plain, (k) nginx +
#           Lua doing the same from a Lua table; (l) the gateway with the same key as (c) but no
#           access log (RUST_LOG=warn, a second `vexa gateway` on the same database); (n) is (l)
#           with the usage counters off
#           (KEY_USAGE=off), so (l)/(n) is what counting usage per key costs the hot path; (o) is a
#           diagnostic relay with one task driving both sockets (vexa-bench-upstream --proxy-mode relay).
#           Throughput + p50/p99 at fixed concurrency (wrk), latency at a fixed rate (oha -q).
# - scale:  1M keys in SQLite and PostgreSQL (cold/warm), revocation across two replicas on
#           PostgreSQL, gateway RSS with 100k keys cached, `vexa import vexa` of 100k keys into
#           SQLite and PostgreSQL (vexa-bench scale).
# - report: (re)writes bench/REPORT.md and bench/results.json from target/bench/raw.
#
# Installs what it needs when missing: wrk, nginx, haproxy, libnginx-mod-http-lua, jq, curl (apt-get), oha (cargo install into
# target/bench-tools). Knobs (environment): BENCH_ROUNDS (5), BENCH_DURATION (5 s per run),
# BENCH_CONNECTIONS (64), BENCH_RATE (1000 req/s), BENCH_RATE_CONNECTIONS (16),
# BENCH_SCALE_KEYS (1000000), BENCH_RSS_KEYS (100000), BENCH_REVOCATIONS (20), BENCH_IMPORT_KEYS (100000),
# BENCH_PG_URL (postgres://postgres@127.0.0.1:5432/test).
# Benchmarks are not tests: nothing here gates CI and `make test` never runs it.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

MODE="${1:-all}"
ROUNDS="${BENCH_ROUNDS:-5}"
DURATION="${BENCH_DURATION:-5}"
CONNS="${BENCH_CONNECTIONS:-64}"
RATE="${BENCH_RATE:-1000}"
RATE_CONNS="${BENCH_RATE_CONNECTIONS:-16}"
SCALE_KEYS="${BENCH_SCALE_KEYS:-1000000}"
RSS_KEYS="${BENCH_RSS_KEYS:-100000}"
REVOCATIONS="${BENCH_REVOCATIONS:-20}"
IMPORT_KEYS="${BENCH_IMPORT_KEYS:-100000}"
PG_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
VARIANTS="${BENCH_VARIANTS:-a b c d e f g h i j k l n o}"
# Extra environment for the gateway process (experiments, e.g. "RUST_LOG=warn"); empty by default.
read -r -a GW_EXTRA_ENV <<<"${BENCH_GATEWAY_ENV:-}"

WORK="$ROOT/target/bench"
RAW="$WORK/raw"
TOOLS="$ROOT/target/bench-tools"
VEXA="$ROOT/target/release/vexa"
BENCH_BIN="$ROOT/target/release/vexa-bench"
UPSTREAM_BIN="$ROOT/target/release/vexa-bench-upstream"
OUT="$ROOT/bench"

log() { echo "[bench $(date -u +%H:%M:%S)] $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

case "$MODE" in all|micro|load|scale|report) ;; *) die "unknown mode '$MODE' (all|micro|load|scale|report)" ;; esac

# ------------------------------------------------------------------ processes we start
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ tools
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_tools() {
  local missing=()
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
  [ -f /usr/lib/nginx/modules/ngx_http_lua_module.so ] || missing+=(libnginx-mod-http-lua)
  command -v jq >/dev/null 2>&1 || missing+=(jq)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]} (apt-get)"
    as_root apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # oha only drives the fixed-rate runs; BENCH_SKIP_RATE=1 needs no oha.
  if [ "${BENCH_SKIP_RATE:-0}" != 1 ] && ! command -v oha >/dev/null 2>&1 && [ ! -x "$TOOLS/bin/oha" ]; then
    log "installing oha (cargo install oha --locked --root target/bench-tools; a few minutes, once)"
    cargo install oha --locked --root "$TOOLS" >"$WORK/oha-install.log" 2>&1 \
      || die "cargo install oha failed; see $WORK/oha-install.log"
  fi
  OHA="$(command -v oha 2>/dev/null || echo "$TOOLS/bin/oha")"
  NGINX="$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)"
  HAPROXY="$(command -v haproxy 2>/dev/null || echo /usr/sbin/haproxy)"
}

build() {
  if [ "${BENCH_SKIP_BUILD:-0}" = 1 ]; then
    [ -x "$VEXA" ] && [ -x "$BENCH_BIN" ] && [ -x "$UPSTREAM_BIN" ] || die "BENCH_SKIP_BUILD=1 but the release binaries are missing"
    return
  fi
  log "building (release): vexa, vexa-bench"
  cargo build --release --locked -p vexa -p vexa-bench --bins >&2
}

wait_http() { # url [seconds]
  local url="$1" deadline=$((SECONDS + ${2:-30}))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

machine_json() {
  local cpu mem os
  cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  mem="$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  os="$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}")"
  jq -n --arg cpu "$cpu" --arg nproc "$(nproc)" --arg mem "$mem" --arg kernel "$(uname -r)" --arg os "$os" \
    '{cpu:$cpu, nproc:$nproc, memory:$mem, kernel:$kernel, os:$os}'
}

# ------------------------------------------------------------------ micro
run_micro() {
  log "criterion micro-benchmarks (cargo bench -p vexa-bench --bench micro, --bench identity_source)"
  rm -rf "$ROOT/target/criterion"
  cargo bench --locked -p vexa-bench --bench micro -- --noplot >"$RAW/micro.log" 2>&1 \
    || { tail -30 "$RAW/micro.log" >&2; die "criterion benches failed"; }
  # The authentication step per identity source (store vs IDENTITY_SOURCE=vexa), cache hit.
  cargo bench --locked -p vexa-bench --bench identity_source -- --noplot >>"$RAW/micro.log" 2>&1 \
    || { tail -30 "$RAW/micro.log" >&2; die "criterion benches failed"; }
  grep -E '^[a-z_]+/|time:' "$RAW/micro.log" | paste - - | sed 's/  */ /g' >&2 || true
  log "allocations per forwarded request (cargo bench -p vexa-bench --bench allocs)"
  BENCH_RAW="$RAW" cargo bench --locked -p vexa-bench --bench allocs >"$RAW/allocs.log" 2>&1 \
    || { tail -30 "$RAW/allocs.log" >&2; die "allocation bench failed"; }
  BENCH_RAW="$RAW" cargo bench --locked -p vexa-bench --bench allocs -- --access-log >>"$RAW/allocs.log" 2>&1 \
    || { tail -30 "$RAW/allocs.log" >&2; die "allocation bench failed"; }
  grep '^allocs:' "$RAW/allocs.log" >&2 || true
}

# ------------------------------------------------------------------ load
start_load_stack() {
  local ports
  mapfile -t ports < <("$BENCH_BIN" free-ports 14)
  UP_PORT="${ports[0]}"; NGX_PORT="${ports[1]}"; GW_PORT="${ports[2]}"; ADM_PORT="${ports[3]}"; MTG_PORT="${ports[4]}"
  PX_PORT="${ports[5]}"; PN_PORT="${ports[6]}"
  HP_PORT="${ports[7]}"; HK_PORT="${ports[8]}"; NP_PORT="${ports[9]}"; NK_PORT="${ports[10]}"; GWQ_PORT="${ports[11]}"; GWU_PORT="${ports[12]}"; RL_PORT="${ports[13]}"
  rm -rf "$WORK/load" && mkdir -p "$WORK/load/nginx/logs" "$WORK/load/stack"

  "$UPSTREAM_BIN" --port "$UP_PORT" --threads 2 >"$WORK/load/upstream.log" 2>&1 &
  PIDS+=($!)
  # (f): a bare hyper reverse proxy (same server/client parts as the gateway, nothing else).
  "$UPSTREAM_BIN" --port "$PX_PORT" --threads 2 --proxy-to "http://127.0.0.1:$UP_PORT" >"$WORK/load/bare-proxy.log" 2>&1 &
  PIDS+=($!)
  # (g): the same, with one upstream connection per client connection instead of a shared pool.
  "$UPSTREAM_BIN" --port "$PN_PORT" --threads 2 --proxy-to "http://127.0.0.1:$UP_PORT" --proxy-mode pinned >"$WORK/load/pinned-proxy.log" 2>&1 &
  PIDS+=($!)
  # (o): a diagnostic relay, one task per client connection driving both sockets, thread-per-core.
  "$UPSTREAM_BIN" --port "$RL_PORT" --threads 2 --proxy-to "http://127.0.0.1:$UP_PORT" --proxy-mode relay >"$WORK/load/relay.log" 2>&1 &
  PIDS+=($!)

  cat >"$WORK/load/nginx/nginx.conf" <<EOF
# Plain reverse proxy to the bench upstream (generated by scripts/bench.sh).
worker_processes $(nproc);
pid $WORK/load/nginx/nginx.pid;
error_log $WORK/load/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log $WORK/load/nginx/logs/access.log;
    client_body_temp_path $WORK/load/nginx/body;
    proxy_temp_path $WORK/load/nginx/proxy;
    fastcgi_temp_path $WORK/load/nginx/fastcgi;
    uwsgi_temp_path $WORK/load/nginx/uwsgi;
    scgi_temp_path $WORK/load/nginx/scgi;
    upstream bench_upstream {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$NGX_PORT;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
  "$NGINX" -p "$WORK/load/nginx" -c "$WORK/load/nginx/nginx.conf" -g 'daemon off;' >"$WORK/load/nginx/logs/stdout.log" 2>&1 &
  PIDS+=($!)

  ADMIN_TOKEN_BENCH="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  # The real stack, as `make all` runs it, on its own SQLite file and free ports. Limiters stay
  # on (their decisions are part of every request) with budgets no run can exhaust.
  GW_ENV=(
    "BIND_HOST=127.0.0.1"
    "API_GATEWAY_HOST_PORT=$GW_PORT" "ADMIN_API_PORT=$ADM_PORT" "MEETINGS_API_PORT=$MTG_PORT"
    "DATABASE_URL=sqlite://$WORK/load/stack/vexa.db" "DATA_DIR=$WORK/load/stack/data"
    "BROWSER_API_URL=http://127.0.0.1:$UP_PORT"
    "GUARD_RATE_LIMIT_RPM=4000000000" "GATEWAY_RATE_LIMIT_RPS=1000000000" "GATEWAY_RATE_LIMIT_BURST=4000000000"
    "LOG_FORMAT=json"
    # Shared by `vexa up` and the second gateway (l), which runs as a separate process.
    "INTERNAL_API_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    "${GW_EXTRA_ENV[@]}"
  )
  (cd "$WORK/load/stack" && exec env -i PATH="$PATH" HOME="${HOME:-/root}" ADMIN_TOKEN="$ADMIN_TOKEN_BENCH" \
      "${GW_ENV[@]}" "$VEXA" up >"$WORK/load/stack/vexa.log" 2>&1) &
  PIDS+=($!)

  wait_http "http://127.0.0.1:$UP_PORT/health" || die "bench upstream did not start (see $WORK/load/upstream.log)"
  wait_http "http://127.0.0.1:$PX_PORT/health" || die "bare proxy did not start (see $WORK/load/bare-proxy.log)"
  wait_http "http://127.0.0.1:$PN_PORT/health" || die "pinned proxy did not start (see $WORK/load/pinned-proxy.log)"
  wait_http "http://127.0.0.1:$RL_PORT/health" || die "the diagnostic relay did not start (see $WORK/load/relay.log)"
  wait_http "http://127.0.0.1:$NGX_PORT/health" || die "nginx did not start (see $WORK/load/nginx/logs)"
  for p in "$GW_PORT" "$ADM_PORT" "$MTG_PORT"; do
    wait_http "http://127.0.0.1:$p/health" 60 || die "vexa up did not become healthy (see $WORK/load/stack/vexa.log)"
  done

  local user_id
  user_id="$(curl -fsS -X POST "http://127.0.0.1:$ADM_PORT/admin/users" \
      -H "X-Admin-API-Key: $ADMIN_TOKEN_BENCH" -H 'Content-Type: application/json' \
      -d '{"email":"bench@vexa.local","name":"bench"}' | jq -er .id)" || die "could not create the bench user"
  KEY="$(curl -fsS -X POST "http://127.0.0.1:$ADM_PORT/admin/users/$user_id/tokens?scopes=browser" \
      -H "X-Admin-API-Key: $ADMIN_TOKEN_BENCH" | jq -er .token)" || die "could not mint the bench key"
  # Same length and alphabet, last (checksum) character changed: an invalid key.
  local last="${KEY: -1}" repl=0
  [ "$last" = 0 ] && repl=1
  BAD_KEY="${KEY%?}$repl"
  start_peers "$user_id"
}

# The peers a user would pick instead of the gateway, each doing the same job at the same worker
# count (2) with no access log: HAProxy and nginx as plain proxies, and each checking X-API-Key
# against 10,000 keys (the bench key among them) and setting X-User-Id, as the gateway does.
start_peers() { # user_id
  local user_id="$1" dir="$WORK/load/peers"
  mkdir -p "$dir/nginx/logs"
  # 9,999 random keys of the same shape plus the bench key: "key user_id" per line (HAProxy map format).
  { head -c $((9999 * 32)) /dev/urandom | od -An -v -tx1 | tr -d ' \n' | fold -w 64 | head -n 9999 \
      | awk '{ printf "vxa_%s %d\n", $1, 100000 + NR }'
    echo "$KEY $user_id"; } >"$dir/keys.map"
  [ "$(wc -l <"$dir/keys.map")" = 10000 ] || die "could not write the 10k-entry key map"

  cat >"$dir/haproxy.cfg" <<EOF
# HAProxy peers (generated by scripts/bench.sh): (h) plain proxy, (i) key check from a map file.
global
    nbthread 2
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
frontend plain
    bind 127.0.0.1:$HP_PORT
    default_backend upstream
frontend keyed
    bind 127.0.0.1:$HK_PORT
    http-request del-header X-User-Id
    http-request set-var(txn.uid) req.hdr(x-api-key),map($dir/keys.map)
    http-request return status 401 content-type application/json string '{"detail":"Invalid API key"}' unless { var(txn.uid) -m found }
    http-request set-header X-User-Id %[var(txn.uid)]
    default_backend upstream
backend upstream
    http-reuse always
    server up 127.0.0.1:$UP_PORT
EOF
  "$HAPROXY" -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
  PIDS+=($!)

  cat >"$dir/nginx/nginx.conf" <<EOF
# nginx peers (generated by scripts/bench.sh): (j) plain proxy, (k) Lua key check from a Lua table.
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
worker_processes 2;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/nginx/body;
    proxy_temp_path $dir/nginx/proxy;
    fastcgi_temp_path $dir/nginx/fastcgi;
    uwsgi_temp_path $dir/nginx/uwsgi;
    scgi_temp_path $dir/nginx/scgi;
    init_by_lua_block {
        keys = {}
        for line in io.lines("$dir/keys.map") do
            local k, v = line:match("^(%S+)%s+(%S+)$")
            if k then keys[k] = v end
        end
    }
    upstream bench_upstream {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$NP_PORT;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
    server {
        listen 127.0.0.1:$NK_PORT;
        location / {
            access_by_lua_block {
                local uid = keys[ngx.var.http_x_api_key or ""]
                if not uid then
                    ngx.status = 401
                    ngx.header["Content-Type"] = "application/json"
                    ngx.print('{"detail":"Invalid API key"}')
                    return ngx.exit(401)
                end
                ngx.req.set_header("X-User-Id", uid)
            }
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
  "$NGINX" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -g 'daemon off;' >"$dir/nginx/logs/stdout.log" 2>&1 &
  PIDS+=($!)

  # (l): a second gateway on the same database with the access log off (RUST_LOG=warn).
  mkdir -p "$dir/quiet"
  (cd "$dir/quiet" && exec env -i PATH="$PATH" HOME="${HOME:-/root}" ADMIN_TOKEN="$ADMIN_TOKEN_BENCH" RUST_LOG=warn \
      "${GW_ENV[@]}" "API_GATEWAY_HOST_PORT=$GWQ_PORT" "DATA_DIR=$dir/quiet/data" \
      "$VEXA" gateway >"$dir/quiet/vexa.log" 2>&1) &
  PIDS+=($!)
  # (n): the same as (l) with the usage counters off (KEY_USAGE=off): (l)/(n) is their cost.
  mkdir -p "$dir/no-usage"
  (cd "$dir/no-usage" && exec env -i PATH="$PATH" HOME="${HOME:-/root}" ADMIN_TOKEN="$ADMIN_TOKEN_BENCH" RUST_LOG=warn \
      "${GW_ENV[@]}" "API_GATEWAY_HOST_PORT=$GWU_PORT" "DATA_DIR=$dir/no-usage/data" "KEY_USAGE=off" \
      "$VEXA" gateway >"$dir/no-usage/vexa.log" 2>&1) &
  PIDS+=($!)

  wait_http "http://127.0.0.1:$HP_PORT/health" || die "haproxy did not start (see $dir/haproxy.log)"
  wait_http "http://127.0.0.1:$NP_PORT/health" || die "nginx peers did not start (see $dir/nginx/logs)"
  wait_http "http://127.0.0.1:$GWQ_PORT/health" 60 || die "the quiet gateway did not start (see $dir/quiet/vexa.log)"
  wait_http "http://127.0.0.1:$GWU_PORT/health" 60 || die "the KEY_USAGE=off gateway did not start (see $dir/no-usage/vexa.log)"
}

variant_url() {
  case "$1" in
    a) echo "http://127.0.0.1:$UP_PORT/browser/x" ;;
    b) echo "http://127.0.0.1:$NGX_PORT/browser/x" ;;
    c|d) echo "http://127.0.0.1:$GW_PORT/browser/x" ;;
    e) echo "http://127.0.0.1:$GW_PORT/auth/me" ;;
    f) echo "http://127.0.0.1:$PX_PORT/browser/x" ;;
    g) echo "http://127.0.0.1:$PN_PORT/browser/x" ;;
    h) echo "http://127.0.0.1:$HP_PORT/browser/x" ;;
    i) echo "http://127.0.0.1:$HK_PORT/browser/x" ;;
    j) echo "http://127.0.0.1:$NP_PORT/browser/x" ;;
    k) echo "http://127.0.0.1:$NK_PORT/browser/x" ;;
    l) echo "http://127.0.0.1:$GWQ_PORT/browser/x" ;;
    n) echo "http://127.0.0.1:$GWU_PORT/browser/x" ;;
    o) echo "http://127.0.0.1:$RL_PORT/browser/x" ;;
  esac
}
variant_key() { if [ "$1" = d ]; then echo "$BAD_KEY"; else echo "$KEY"; fi; }

run_wrk() { # variant seconds outfile
  WRK_OUT="$3" wrk -t1 -c"$CONNS" -d"$2"s --latency -s "$ROOT/bench/wrk-report.lua" \
    -H "X-API-Key: $(variant_key "$1")" "$(variant_url "$1")" >"$3.txt" 2>&1
}

run_oha() { # variant seconds outfile
  "$OHA" -z "$2"s -c "$RATE_CONNS" -q "$RATE" --latency-correction --no-tui --output-format json \
    -H "X-API-Key: $(variant_key "$1")" "$(variant_url "$1")" >"$3" 2>"$3.err"
}

run_load() {
  LOADAVG_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
  log "load: starting upstream, nginx and vexa up (load average before: $LOADAVG_BEFORE)"
  start_load_stack
  rm -rf "$RAW/load" && mkdir -p "$RAW/load"
  local v code status_json='{}'
  for v in $VARIANTS; do
    code="$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $(variant_key "$v")" "$(variant_url "$v")")"
    status_json="$(jq -c --arg v "$v" --arg c "$code" '. + {($v): ($c|tonumber)}' <<<"$status_json")"
  done
  echo "$status_json" >"$RAW/status.json"
  log "status per variant: $status_json"
  jq -e 'to_entries | all(if .key == "d" then .value == 401 else .value == 200 end)' <<<"$status_json" >/dev/null \
    || die "unexpected status codes $status_json (expected 200 for every variant except d, 401 for d)"

  log "load: warm-up (2 s per variant)"
  for v in $VARIANTS; do run_wrk "$v" 2 "$WORK/load/warmup-$v.json"; done

  local r
  for r in $(seq 1 "$ROUNDS"); do
    for v in $VARIANTS; do
      run_wrk "$v" "$DURATION" "$RAW/load/$v-r$r.wrk.json"
    done
    if [ "${BENCH_SKIP_RATE:-0}" != 1 ]; then
      for v in $VARIANTS; do
        run_oha "$v" "$DURATION" "$RAW/load/$v-r$r.oha.json"
      done
    fi
    log "round $r/$ROUNDS: req/s $(for v in $VARIANTS; do printf '%s=%s ' "$v" "$(jq -r '(.requests / (.duration_us/1e6)) | floor' "$RAW/load/$v-r$r.wrk.json")"; done)"
  done

  # Gateway CPU profile of the valid-key path, when perf works here (best effort).
  if [ "${BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null 2>&1; then
    local gw_pid
    gw_pid="$(pgrep -f "^$VEXA up" | head -1 || true)"
    if [ -n "$gw_pid" ]; then
      log "perf: sampling the gateway under (c) for ${DURATION}s"
      (perf record -F 999 -g -p "$gw_pid" -o "$WORK/load/perf.data" -- sleep "$DURATION" >/dev/null 2>&1 || true) &
      local perf_pid=$!
      run_wrk c "$DURATION" "$WORK/load/perf-wrk.json"
      wait "$perf_pid" || true
      {
        echo "# perf record -F 999 -p <vexa up> during wrk on (c), ${DURATION}s; flat profile by DSO, then by symbol"
        perf report -i "$WORK/load/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8
        echo
        perf report -i "$WORK/load/perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -80 | cut -c1-160 | sed 's/ *$//'
      } >"$RAW/perf-gateway.txt" || true
      cp "$RAW/perf-gateway.txt" "$OUT/perf-gateway.txt" || true
    fi
  fi

  cleanup
  PIDS=()
  LOAD_META="$(jq -n --arg before "$LOADAVG_BEFORE" --arg after "$(cut -d' ' -f1-3 /proc/loadavg)" --arg rounds "$ROUNDS" --arg d "$DURATION" --arg c "$CONNS" --arg q "$RATE" --arg qc "$RATE_CONNS" \
      '{loadavg_before:$before, loadavg_after:$after, rounds:($rounds|tonumber), duration_s:($d|tonumber), connections:($c|tonumber), wrk_threads:1, rate_qps:($q|tonumber), rate_connections:($qc|tonumber)}')"
}

# ------------------------------------------------------------------ scale
run_scale() {
  log "scale: $SCALE_KEYS keys (SQLite, PostgreSQL), revocation x$REVOCATIONS on PostgreSQL, RSS with $RSS_KEYS keys, import of $IMPORT_KEYS keys"
  pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || log "warning: PostgreSQL on 127.0.0.1:5432 does not answer pg_isready"
  "$BENCH_BIN" scale --vexa "$VEXA" --work "$WORK/scale" --out "$RAW/scale.json" \
    --keys "$SCALE_KEYS" --rss-keys "$RSS_KEYS" --revocations "$REVOCATIONS" --import-keys "$IMPORT_KEYS" --pg "$PG_URL" ${BENCH_SCALE_ONLY:+--only "$BENCH_SCALE_ONLY"}
}

# ------------------------------------------------------------------ report
write_meta() {
  local tools
  tools="$(jq -n --arg rustc "$(rustc --version)" --arg wrk "$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)" \
      --arg oha "$("$OHA" --version 2>/dev/null)" --arg nginx "$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')" \
      --arg haproxy "$("$HAPROXY" -v 2>&1 | head -1 | sed 's/^HAProxy version \([^ ]*\).*/\1/')" \
      --arg pg "$(psql -h 127.0.0.1 -U postgres -d postgres -tAc 'SHOW server_version' 2>/dev/null || echo unknown)" \
      '{rustc:$rustc, wrk:$wrk, oha:$oha, nginx:$nginx, haproxy:$haproxy, postgresql:$pg}')"
  local load_meta="${LOAD_META:-null}"
  [ "$load_meta" = null ] && [ -f "$RAW/meta.json" ] && load_meta="$(jq -c '.load' "$RAW/meta.json")"
  jq -n --arg started "$STARTED" --arg finished "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --argjson machine "$(machine_json)" --argjson tools "$tools" --argjson load "$load_meta" \
    --arg conns "$CONNS" --arg rate "$RATE" --arg rconns "$RATE_CONNS" --arg d "$DURATION" --arg rounds "$ROUNDS" \
    '{
      started_at: $started, finished_at: $finished, machine: $machine, tools: $tools, load: $load,
      variants: {
        a: {label: "upstream direct", path: "/browser/x"},
        b: {label: "nginx → upstream", path: "/browser/x"},
        c: {label: "gateway, valid key → upstream", path: "/browser/x"},
        d: {label: "gateway, invalid key (401)", path: "/browser/x"},
        e: {label: "gateway /auth/me (answered locally)", path: "/auth/me"},
        f: {label: "bare hyper proxy, pooled client (no auth, no log)", path: "/browser/x"},
        g: {label: "bare hyper proxy, one upstream conn per client conn", path: "/browser/x"},
        h: {label: "HAProxy, plain proxy (no log)", path: "/browser/x"},
        i: {label: "HAProxy, X-API-Key checked against a 10k-entry map, X-User-Id set (no log)", path: "/browser/x"},
        j: {label: "nginx, plain proxy (no log)", path: "/browser/x"},
        k: {label: "nginx + Lua, X-API-Key checked against a 10k-entry Lua table, X-User-Id set (no log)", path: "/browser/x"},
        l: {label: "gateway, valid key → upstream, no access log (RUST_LOG=warn)", path: "/browser/x"},
        n: {label: "gateway as (l), usage counters off (KEY_USAGE=off)", path: "/browser/x"},
        o: {label: "diagnostic relay, one task drives both sockets (no auth, no log)", path: "/browser/x"}
      },
      method: [
        "Everything runs on this one machine over loopback: load generator, proxies, upstream and databases share its \(env.NPROC // "") cores, so absolute figures are a floor for a real deployment; the ratios are the comparison.",
        "Upstream: target/release/vexa-bench-upstream (hyper, 2 worker threads), answers 200 with a 38-byte JSON body on every path.",
        "nginx: plain reverse proxy, worker_processes = nproc, keep-alive pool of 64 to the upstream, access log on (the gateway logs every request too).",
        "Gateway: the real stack, `target/release/vexa up` (gateway, admin API and meetings service in one process) on SQLite, BROWSER_API_URL = the upstream, default settings (JSON access log per request) except limiter budgets raised so no run can exhaust them: edge guard and per-user limiter still decide on every request.",
        "The key is minted through the admin API (POST /admin/users, then POST /admin/users/{id}/tokens?scopes=browser). The invalid key is the valid one with its last (checksum) character changed.",
        "(f) is a diagnostic, not a product: vexa-bench-upstream --proxy-to, a bare reverse proxy made of the same parts as the gateway (hyper 1 server, hyper-util pooled client, streamed body), with no key check, no limiter and no log. It shows how much of the gap to nginx is the proxy stack itself and how much is work the gateway adds. (g) is the same bare proxy with one upstream connection per client connection (hyper::client::conn::http1, opened on first use) instead of the shared pool: it shows what the pool costs. (o) is a diagnostic too: vexa-bench-upstream --proxy-mode relay, thread-per-core, one task per client connection reading whole messages (httparse heads, Content-Length bodies only) and writing them to its pinned upstream connection and back, with no hyper: it shows what a proxy core without the two hyper codecs and two tasks per hop costs.",
        "Peers (h)–(k) are what a user would run instead, doing the same job with the same 2 workers/threads and no access log: HAProxy (nbthread 2, http-reuse always) plain and with `req.hdr(x-api-key),map(keys.map)` → 401 or X-User-Id; nginx (worker_processes 2, keep-alive 64) plain and with an access_by_lua_block lookup in a Lua table loaded at start. The map holds 10,000 keys, the bench key among them. (l) is a second `vexa gateway` process on the same database with RUST_LOG=warn (no access log line per request); (c) is the gateway as shipped (access log on). Every gateway serves thread-per-core (one current-thread runtime and SO_REUSEPORT listener per core, here 2). (n) is (l) with KEY_USAGE=off: (l) counts every request per key, hour and outcome (the default), so (l)/(n) (gateway_usage_on_over_off) is what the usage counters cost.",
        "Every variant sends the same X-API-Key header. Before loading, each variant is checked to answer the expected status (a, b, c, e: 200; d: 401).",
        "Throughput and latency at fixed concurrency: wrk, 1 thread, \($conns) connections, \($d) s per run, latency from wrk --latency.",
        "Latency at a fixed moderate rate: oha at \($rate) req/s over \($rconns) connections, \($d) s per run, --latency-correction (no coordinated omission).",
        "\($rounds) rounds after a 2 s warm-up per variant; each round runs a..n in turn (wrk), then a..n again (oha). Reported: medians over rounds.",
        "Micro-benchmarks: criterion (cargo bench -p vexa-bench --bench micro), median per call; cache hits are measured by polling the cache future once (a hit never awaits), with 1 and with 1M keys cached, against a lookup-counting store that asserts hits never reach it.",
        "Scale runs (vexa-bench scale): keys inserted directly into the real schema (multi-row INSERTs, then ANALYZE); resolution measured through a freshly started `vexa gateway`; revocation between `vexa up` and a second `vexa gateway` on one PostgreSQL database; RSS from /proc/PID/status."
      ],
      commands: [
        "make bench                      # = make build && scripts/bench.sh all",
        "scripts/bench.sh micro|load|scale|report",
        "cargo bench --locked -p vexa-bench --bench micro -- --noplot",
        "target/release/vexa-bench-upstream --port $UP --threads 2",
        "target/release/vexa-bench-upstream --port $PX --threads 2 --proxy-to http://127.0.0.1:$UP",
        "target/release/vexa-bench-upstream --port $PN --threads 2 --proxy-to http://127.0.0.1:$UP --proxy-mode pinned",
        "nginx -p target/bench/load/nginx -c target/bench/load/nginx/nginx.conf -g \"daemon off;\"",
        "env -i PATH=$PATH ADMIN_TOKEN=<random 48 hex> BIND_HOST=127.0.0.1 API_GATEWAY_HOST_PORT=$GW ADMIN_API_PORT=$ADM MEETINGS_API_PORT=$MTG DATABASE_URL=sqlite://target/bench/load/stack/vexa.db DATA_DIR=target/bench/load/stack/data BROWSER_API_URL=http://127.0.0.1:$UP GUARD_RATE_LIMIT_RPM=4000000000 GATEWAY_RATE_LIMIT_RPS=1000000000 GATEWAY_RATE_LIMIT_BURST=4000000000 LOG_FORMAT=json target/release/vexa up",
        "curl -X POST $ADMIN/admin/users -H \"X-Admin-API-Key: $T\" -H \"Content-Type: application/json\" -d {\"email\":\"bench@vexa.local\"}",
        "curl -X POST \"$ADMIN/admin/users/$ID/tokens?scopes=browser\" -H \"X-Admin-API-Key: $T\"",
        "WRK_OUT=<file> wrk -t1 -c\($conns) -d\($d)s --latency -s bench/wrk-report.lua -H \"X-API-Key: $KEY\" <url>",
        "oha -z \($d)s -c \($rconns) -q \($rate) --latency-correction --no-tui --output-format json -H \"X-API-Key: $KEY\" <url>",
        "target/release/vexa-bench scale --vexa target/release/vexa --work target/bench/scale --out target/bench/raw/scale.json --keys 1000000 --rss-keys 100000 --revocations 20 --import-keys 100000 --pg postgres://postgres@127.0.0.1:5432/test",
        "target/release/vexa-bench report --raw target/bench/raw --criterion target/criterion --out bench"
      ]
    }' >"$RAW/meta.json.new"
  mv "$RAW/meta.json.new" "$RAW/meta.json"
  if [ -f "$RAW/perf-gateway.txt" ]; then
    jq '. + {notes: ["A flat perf profile of the gateway process under load (c) is in bench/perf-gateway.txt (taken because BENCH_PERF=1)."]}' \
      "$RAW/meta.json" >"$RAW/meta.json.new" && mv "$RAW/meta.json.new" "$RAW/meta.json"
  fi
}

run_report() {
  # `report` alone re-renders the last run as it was (same meta); any other mode records a new one.
  if [ "$MODE" != report ] || [ ! -f "$RAW/meta.json" ]; then
    write_meta
  fi
  "$BENCH_BIN" report --raw "$RAW" --criterion "$ROOT/target/criterion" --out "$OUT"
}

# ------------------------------------------------------------------ main
STARTED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
mkdir -p "$WORK" "$RAW"
export NPROC="$(nproc)"
install_tools
build
case "$MODE" in
  micro) run_micro ;;
  load) run_load ;;
  scale) run_scale ;;
  report) ;;
  all)
    # A full run starts from a clean slate so the report never mixes runs.
    rm -rf "$RAW" && mkdir -p "$RAW"
    run_micro
    run_load
    # The scale runs need PostgreSQL; without it the rest of the report is still written.
    run_scale || { SCALE_FAILED=1; log "scale runs failed (see above); the report shows them as not measured"; }
    ;;
esac
run_report
log "done: bench/REPORT.md, bench/results.json"
[ "${SCALE_FAILED:-0}" = 0 ] || exit 1
