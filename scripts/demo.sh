#!/usr/bin/env bash
# `make demo`: runs the demo flow on the bundled seed instructions and shows the result.
set -euo pipefail
build_dir=${1:-build}
run_dir=runs/demo-$(date +%Y%m%d-%H%M%S)-$$
"$build_dir/bin/synthforge" run flows/demo.yaml -i examples/data/seed_instructions.jsonl \
  -o "$run_dir/output.jsonl" --run-dir "$run_dir"
echo
echo "first rows of $run_dir/output.jsonl:"
head -n 3 "$run_dir/output.jsonl"
echo
echo "rejected rows and why ($run_dir/rejects.jsonl):"
python3 -c 'import json,sys
for l in open(sys.argv[1]): r=json.loads(l); print("  [%s] %s -- %s" % (r["_rejected_by"], r.get("instruction","")[:50], r["_reason"]))' "$run_dir/rejects.jsonl"
