#!/usr/bin/env bash
# MinHash near-duplicate removal on a synthetic corpus with planted near-duplicates of known
# Jaccard (bench/minhash_gen.py): recall on the planted pairs, false merges, and speed.
#
# Target (issue 5): >= 95% of planted near-duplicates (Jaccard >= 0.9) found in 100,000
# one-kilobyte documents, < 1% false merges, >= 50,000 documents/s on one core.
#
#   bench/minhash_bench.sh [DOCS=100000] [THRESHOLD=0.8]
#
# 1. The C++ MinHash index alone (shingling, signatures, LSH, exact Jaccard checks), with the
#    block's default LSH weights (0.1 false positives / 0.9 false negatives) and with
#    datasketch's (0.5 / 0.5) for comparison.
# 2. `synthforge dedup --method minhash` end to end (JSONL in and out, run store, rejects),
#    whose decisions must equal the driver's.
# Needs a tree built by make bench, and python3. BUILD_DIR overrides build/.
set -euo pipefail

DOCS=${1:-100000}
THRESHOLD=${2:-0.8}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
BUILD=$(cd "$BUILD" && pwd)

[ -f "$BUILD/lib/libsynthforge.so" ] || { echo "minhash_bench: $BUILD/lib/libsynthforge.so missing: run make" >&2; exit 2; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

DRIVER=$BUILD/bench/minhash_bench_driver
# The drivers are CMake targets (bench/CMakeLists.txt), built by `make bench`.
for exe in "$DRIVER"; do
  [ -x "$exe" ] || { echo "minhash_bench: $exe missing: run make bench, or configure with -DSYNTHFORGE_BENCH=ON and build" >&2; exit 2; }
done

echo "== corpus: $DOCS documents"
python3 "$ROOT/bench/minhash_gen.py" "$TMP/corpus" --docs "$DOCS"

# Scores decisions ("keep" / "dup LINE J", one per document) against the truth file.
score() {
  python3 - "$TMP/corpus.truth" "$1" <<'PY'
import sys
truth = [l.split("\t") for l in open(sys.argv[1])]
got = [l.split() for l in open(sys.argv[2])]
assert len(truth) == len(got), (len(truth), len(got))
dups = found = wrong_target = 0
others = merged = 0
low = {}
for (line, kind, source, jac), g in zip(truth, got):
    if kind == "dup":
        dups += 1
        if g[0] == "dup":
            if g[1] == source:
                found += 1
            else:
                wrong_target += 1
        else:
            bucket = "%.2f" % (int(float(jac) * 50) / 50)
            low[bucket] = low.get(bucket, 0) + 1
    else:
        others += 1
        merged += g[0] == "dup"
false_merges = merged + wrong_target
print(f"recall: {found}/{dups} planted near-duplicates found = {100 * found / max(dups, 1):.2f}% (target >= 95%)")
print(f"false merges: {false_merges} = {100 * false_merges / max(others + wrong_target, 1):.3f}% of {others} "
      f"non-duplicate documents (target < 1%); {wrong_target} duplicates attributed to the wrong row")
if low:
    print("missed near-duplicates by Jaccard:", ", ".join(f">= {k}: {v}" for k, v in sorted(low.items())))
PY
}

echo "== MinHash index alone, threshold $THRESHOLD, 128 permutations, word 5-shingles"
echo "-- block defaults (false-positive weight 0.1, false-negative weight 0.9)"
"$DRIVER" "$TMP/corpus.txt" "$THRESHOLD" 128 5 0.1 0.9 >"$TMP/driver.out"
score "$TMP/driver.out"
echo "-- datasketch's weights (0.5 / 0.5)"
"$DRIVER" "$TMP/corpus.txt" "$THRESHOLD" 128 5 0.5 0.5 >"$TMP/driver_ds.out"
score "$TMP/driver_ds.out"

echo "== synthforge dedup --method minhash (end to end)"
START=$(date +%s.%N)
"$BUILD/bin/synthforge" dedup "$TMP/corpus.jsonl" -o "$TMP/out.jsonl" --field text --method minhash \
  --threshold "$THRESHOLD" --rejects "$TMP/rejects.jsonl" --run-dir "$TMP/run" -q
END=$(date +%s.%N)
python3 - "$TMP/driver.out" "$TMP/out.jsonl" "$TMP/rejects.jsonl" "$START" "$END" "$DOCS" <<'PY'
import json, sys
driver = [l.split()[0] for l in open(sys.argv[1])]
kept = [json.loads(l)["id"] for l in open(sys.argv[2])]
want = [i + 1 for i, d in enumerate(driver) if d == "keep"]
if kept != want:
    sys.exit(f"minhash_bench: CLI kept {len(kept)} rows, the driver {len(want)}: decisions differ")
rejected = sum(1 for _ in open(sys.argv[3]))
secs = float(sys.argv[5]) - float(sys.argv[4])
n = int(sys.argv[6])
print(f"same decisions as the driver: {len(kept)} kept, {rejected} rejected")
print(f"{secs:.2f} s, {n / secs:.0f} documents/s (JSONL parsing, run store, writing outputs included)")
PY
