#!/usr/bin/env bash
# Self-Instruct's ROUGE-L novelty filter (drop a candidate whose F1 with any kept instruction is
# > THRESHOLD): the C++ RougeLIndex against the Python reference (bench/reference/rouge_reference.py,
# which behaves like rouge_score) on the same PY_N synthetic instructions. Checks that every
# keep/drop decision is identical and prints both throughputs and the ratio (target >= 1000x).
# Then C++ alone on larger pools (target: 100K instructions under 2 minutes on one core).
#
#   bench/rouge_bench.sh [PY_N=3000] [THRESHOLD=0.7] [SIZES="10000 30000 100000"]
#
# The Python side is O(PY_N^2) pure-Python DP and takes several minutes at 3000; pass a smaller
# PY_N for a quick look. Needs a tree built by make bench, and python3. BUILD_DIR overrides build/.
set -euo pipefail

PY_N=${1:-3000}
THRESHOLD=${2:-0.7}
SIZES=${3:-"10000 30000 100000"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}

[ -f "$BUILD/lib/libsynthforge.so" ] || { echo "rouge_bench: $BUILD/lib/libsynthforge.so missing: run make" >&2; exit 2; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

DRIVER=$BUILD/bench/rouge_bench_driver
# The drivers are CMake targets (bench/CMakeLists.txt), built by `make bench`.
for exe in "$DRIVER"; do
  [ -x "$exe" ] || { echo "rouge_bench: $exe missing: run make bench, or configure with -DSYNTHFORGE_BENCH=ON and build" >&2; exit 2; }
done

secs_of() { sed -E 's/.* kept ([0-9.]+) s.*/\1/' "$1"; }

echo "== equivalence and speed vs the Python reference: $PY_N instructions, threshold $THRESHOLD"
"$DRIVER" gen "$PY_N" 1 "$TMP/py.txt"
"$DRIVER" filter "$TMP/py.txt" "$THRESHOLD" >"$TMP/cpp.out" 2>"$TMP/cpp.err"
START=$(date +%s.%N)
python3 "$ROOT/bench/reference/rouge_reference.py" filter "$TMP/py.txt" --threshold "$THRESHOLD" >"$TMP/py.out"
END=$(date +%s.%N)
if ! cmp -s "$TMP/cpp.out" "$TMP/py.out"; then
  echo "rouge_bench: DECISIONS DIFFER between C++ and Python:" >&2
  diff <(nl "$TMP/py.out") <(nl "$TMP/cpp.out") | head -20 >&2
  exit 1
fi
KEPT=$(grep -c keep "$TMP/py.out" || true)
CPP_S=$(secs_of "$TMP/cpp.err")
python3 - "$PY_N" "$KEPT" "$START" "$END" "$CPP_S" <<'PY'
import sys
n, kept, start, end, cpp = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
py = end - start
print(f"decisions identical: {n} lines, {kept} kept, {n - kept} dropped")
print(f"python reference: {py:.1f} s  ({n / py:.1f} instructions/s)")
print(f"c++ RougeLIndex:  {cpp:.4f} s  ({n / cpp:.0f} instructions/s)")
print(f"ratio: {py / cpp:.0f}x (target >= 1000x)")
PY

echo "== C++ alone, threshold $THRESHOLD"
for N in $SIZES; do
  "$DRIVER" gen "$N" 2 "$TMP/big.txt"
  "$DRIVER" filter "$TMP/big.txt" "$THRESHOLD" >/dev/null 2>"$TMP/big.err"
  echo "$N instructions: $(cat "$TMP/big.err")"
done
