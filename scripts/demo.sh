#!/usr/bin/env bash
# `make demo`: curate the bundled seed instructions (flows/demo.yaml, no model needed),
# then answer them with a model through the built-in generation flow (flows/generate.yaml)
# on the in-process llama backend.
#   SYNTHFORGE_MODEL=path/to/model.gguf make demo     use a real GGUF model
# Without SYNTHFORGE_MODEL a tiny random-weight model is made and used.
set -euo pipefail
build_dir=${1:-build}
sf="$build_dir/bin/synthforge"
stamp=$(date +%Y%m%d-%H%M%S)-$$
curate_dir=runs/demo-curate-$stamp
generate_dir=runs/demo-generate-$stamp

echo "== 1. curate seed instructions (flows/demo.yaml)"
"$sf" run flows/demo.yaml -i examples/data/seed_instructions.jsonl -o "$curate_dir/output.jsonl" --run-dir "$curate_dir"
echo
echo "rejected rows and why ($curate_dir/rejects.jsonl):"
python3 -c 'import json,sys
for l in open(sys.argv[1]): r=json.loads(l); print("  [%s] %s -- %s" % (r["_rejected_by"], r.get("instruction","")[:50], r["_reason"]))' "$curate_dir/rejects.jsonl"

model=${SYNTHFORGE_MODEL:-}
if [[ -z "$model" ]]; then
  model=runs/tiny-model.gguf
  [[ -f "$model" ]] || "$sf" tiny-model "$model" >/dev/null
  echo
  echo "NOTE: no SYNTHFORGE_MODEL set, so a tiny random-weight model answers: its text is noise."
  echo "      For real answers: SYNTHFORGE_MODEL=/path/to/model.gguf make demo, or run flows/generate.yaml"
  echo "      with --set backend=openai --set base_url=http://HOST:PORT/v1 --set model=NAME for a server."
fi

echo
echo "== 2. answer them with $model (flows/generate.yaml, in-process llama.cpp)"
"$sf" run generate -i "$curate_dir/output.jsonl" -o "$generate_dir/output.jsonl" --run-dir "$generate_dir" \
  --set model="$model" --set max_tokens=48 --seed 1
echo
echo "first rows of $generate_dir/output.jsonl:"
head -n 2 "$generate_dir/output.jsonl" | cut -c1-400
