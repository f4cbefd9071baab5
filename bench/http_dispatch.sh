#!/usr/bin/env bash
# Dispatch overhead of the openai backend: requests/s through make_openai_backend() against
# nginx answering a fixed chat completion, next to wrk against the same nginx at the same
# concurrency; the target is backend >= 50% of wrk. Bare libcurl multi loops
# (raw_curl_driver.cpp) run too, with one thread and with the backend's number of event loops:
# they are the ceiling for any libcurl client, and tell how much of the gap is libcurl's and how
# much the backend's. The backend runs with its default event_loop_threads (min(2, cores)) and,
# for comparison, with one loop.
#
#   bench/http_dispatch.sh [CONCURRENCY=32] [SECONDS=3] [ROUNDS=3]
#
# The clients take turns, ROUNDS times SECONDS each, and the medians are compared, so a
# neighbour's burst of CPU use on a shared machine skews one round rather than the ratio.
# LOOPS=N overrides the event-loop (and bare libcurl thread) count of the multi-loop columns.
#
# Needs: wrk and nginx (apt-get install wrk nginx-light), a tree built by make bench.
# BUILD_DIR overrides build/. Nothing leaves the loopback interface.
set -euo pipefail

CONCURRENCY=${1:-32}
SECONDS_EACH=${2:-3}
ROUNDS=${3:-3}
LOOPS=${LOOPS:-$(( $(nproc) >= 2 ? 2 : 1 ))}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}

for tool in wrk nginx g++ python3; do
  command -v "$tool" >/dev/null || { echo "http_dispatch: '$tool' not found (apt-get install wrk nginx-light)" >&2; exit 2; }
done
[ -f "$BUILD/lib/libsynthforge.so" ] || { echo "http_dispatch: $BUILD/lib/libsynthforge.so missing: run make" >&2; exit 2; }

TMP=$(mktemp -d)
NGINX_PID=
cleanup() {
  if [ -n "$NGINX_PID" ]; then kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

DRIVER=$BUILD/bench/http_dispatch_driver
RAW=$BUILD/bench/raw_curl_driver
# The drivers are CMake targets (bench/CMakeLists.txt), built by `make bench`.
for exe in "$DRIVER" "$RAW"; do
  [ -x "$exe" ] || { echo "http_dispatch: $exe missing: run make bench, or configure with -DSYNTHFORGE_BENCH=ON and build" >&2; exit 2; }
done

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s|@PREFIX@|$TMP|g" -e "s|@PORT@|$PORT|g" "$ROOT/bench/nginx.conf.in" > "$TMP/nginx.conf"
nginx -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/error.log" &
NGINX_PID=$!
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null && break
  sleep 0.05
done
URL="http://127.0.0.1:$PORT/v1"

echo "nginx on 127.0.0.1:$PORT (1 worker); $CONCURRENCY connections; $ROUNDS rounds of ${SECONDS_EACH}s each; nproc=$(nproc); $LOOPS loops"
WRK_ALL=()
RAW_ALL=()
RAWN_ALL=()
BACKEND_ALL=()
BACKEND1_ALL=()
rps() { awk '{for (i = 1; i < NF; i++) if ($i == "requests/s") print $(i + 1)}'; }
for round in $(seq "$ROUNDS"); do
  WRK_OUT=$(wrk -t1 -c"$CONCURRENCY" -d"${SECONDS_EACH}s" -s "$ROOT/bench/wrk_post.lua" "$URL/chat/completions")
  WRK_ERRORS=$(awk '/Non-2xx|Socket errors/' <<<"$WRK_OUT")
  [ -z "$WRK_ERRORS" ] || echo "wrk reported: $WRK_ERRORS"
  WRK_ALL+=("$(awk '/^Requests\/sec:/ {print $2}' <<<"$WRK_OUT")")
  RAW_ALL+=("$("$RAW" "$URL" "$SECONDS_EACH" "$CONCURRENCY" 1 | rps)")
  RAWN_ALL+=("$("$RAW" "$URL" "$SECONDS_EACH" "$CONCURRENCY" "$LOOPS" | rps)")
  BACKEND_ALL+=("$("$DRIVER" "$URL" "$SECONDS_EACH" "$CONCURRENCY" "$LOOPS" | rps)")
  BACKEND1_ALL+=("$("$DRIVER" "$URL" "$SECONDS_EACH" "$CONCURRENCY" 1 | rps)")
  printf 'round %d: wrk %7.0f   bare libcurl 1 thread %7.0f, %d threads %7.0f   backend %d loops %7.0f, 1 loop %7.0f requests/s\n' \
    "$round" "${WRK_ALL[-1]}" "${RAW_ALL[-1]}" "$LOOPS" "${RAWN_ALL[-1]}" "$LOOPS" "${BACKEND_ALL[-1]}" "${BACKEND1_ALL[-1]}"
done

python3 - "$LOOPS" "${WRK_ALL[*]}" "${RAW_ALL[*]}" "${RAWN_ALL[*]}" "${BACKEND_ALL[*]}" "${BACKEND1_ALL[*]}" <<'PY'
import statistics, sys
loops = int(sys.argv[1])
wrk, raw, rawn, backend, backend1 = (statistics.median(float(x) for x in arg.split()) for arg in sys.argv[2:7])
print("wrk (median)                           %8.0f requests/s" % wrk)
print("bare libcurl, 1 thread (median)        %8.0f requests/s  (%.1f%% of wrk)" % (raw, 100 * raw / wrk))
print("bare libcurl, %d threads (median)       %8.0f requests/s  (%.1f%% of wrk)" % (loops, rawn, 100 * rawn / wrk))
print("openai backend, 1 loop (median)        %8.0f requests/s  (%.1f%% of wrk, %.1f%% of bare libcurl 1 thread)"
      % (backend1, 100 * backend1 / wrk, 100 * backend1 / raw))
print("openai backend, %d loops (median)       %8.0f requests/s  (%.1f%% of bare libcurl %d threads)"
      % (loops, backend, 100 * backend / rawn, loops))
ratio = backend / wrk
print("backend (%d loops) / wrk                %8.1f%%  (target >= 50%%: %s)" % (loops, 100 * ratio, "met" if ratio >= 0.5 else "NOT met"))
PY
