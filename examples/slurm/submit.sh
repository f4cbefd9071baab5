#!/bin/bash
# Submits the shard array and the merge job that waits for it:
#   FLOW=generate INPUT=prompts.jsonl ENDPOINTS="http://a:8000/v1 http://b:8000/v1" ./submit.sh
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p logs
jid=$(sbatch --parsable --export=ALL generate_array.sbatch)
sbatch --dependency=afterok:"${jid%%;*}" --export=ALL merge.sbatch
