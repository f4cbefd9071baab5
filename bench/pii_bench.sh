#!/usr/bin/env bash
# PII scan throughput on a synthetic corpus: ~1.5 kB English documents with dates, prices,
# versions and other look-alikes, a few percent carrying PII of every type
# (tests/pii/make_corpus.py --text-mb).
#
# Target (privacy issue): >= 200 MB/s per core for the scan.
#
#   bench/pii_bench.sh [MB=100] [PII_RATE=0.05] [PY_MB=20]
#
# 1. The C++ scanner alone (privacy::Scanner, one thread, best of 3 passes).
# 2. The same C++ scanner with PHONE left out, to show what libphonenumber costs.
# 3. The Python reference (bench/reference/pii_reference.py): the same patterns with Python's
#    `re`, one pattern at a time, plus the validators; on the first PY_MB megabytes.
# 4. `synthforge scan` end to end on the corpus as JSONL (parsing, run store, writing).
# Needs a tree built by make bench, and python3. BUILD_DIR overrides build/.
set -euo pipefail

MB=${1:-100}
PII_RATE=${2:-0.05}
PY_MB=${3:-20}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
BUILD=$(cd "$BUILD" && pwd)

[ -f "$BUILD/lib/libsynthforge.so" ] || { echo "pii_bench: $BUILD/lib/libsynthforge.so missing: run make" >&2; exit 2; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

DRIVER=$BUILD/bench/pii_bench_driver
# The drivers are CMake targets (bench/CMakeLists.txt), built by `make bench`.
for exe in "$DRIVER"; do
  [ -x "$exe" ] || { echo "pii_bench: $exe missing: run make bench, or configure with -DSYNTHFORGE_BENCH=ON and build" >&2; exit 2; }
done

echo "== corpus: $MB MB, PII in $PII_RATE of the documents"
python3 "$ROOT/tests/pii/make_corpus.py" --text-mb "$MB" --pii-rate "$PII_RATE" "$TMP/corpus.txt"

echo "== C++ scanner, all entity types (default options: phone region US)"
"$DRIVER" "$TMP/corpus.txt" --repeat 3
echo "== C++ scanner without PHONE"
"$DRIVER" "$TMP/corpus.txt" --repeat 3 \
  --entities EMAIL,CREDIT_CARD,IBAN,US_SSN,IP_ADDRESS,MAC_ADDRESS,URL_CREDENTIALS,CRYPTO_ADDRESS,SECRET
echo "== Python re reference, first $PY_MB MB"
python3 "$ROOT/bench/reference/pii_reference.py" "$TMP/corpus.txt" --mb "$PY_MB"

echo "== synthforge scan --action flag (end to end, JSONL)"
python3 - "$TMP/corpus.txt" "$TMP/corpus.jsonl" <<'PY'
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for i, line in enumerate(f):
        out.write(json.dumps({"id": i, "text": line.rstrip("\n")}, ensure_ascii=False) + "\n")
PY
START=$(date +%s.%N)
"$BUILD/bin/synthforge" scan "$TMP/corpus.jsonl" -o "$TMP/out.jsonl" --fields text --run-dir "$TMP/run"
END=$(date +%s.%N)
python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'{s:.2f} s, {$MB/s:.1f} MB/s of text (JSONL parsing, run store, writing included)')" "$START" "$END"
