#!/usr/bin/env python3
"""A flow's `privacy:` level, end to end against the scripted fixture server.

- standard: PII in the outputs is redacted; an output that copies its input record verbatim is
  dropped; the others carry a `leakage` column (distance to the closest input record).
- strict: the model never sees the inputs' PII (replaced by surrogates first); outputs still
  holding PII are dropped; copies are dropped at tighter thresholds.
- dp: refused without a private_evolution block, and refused when a model-calling block runs
  before it; off: nothing added.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Fixture, check, openai_sets, run_flow, workdir, write_jsonl  # noqa: E402

LONG = ("the quarterly maintenance report lists every pump in the north wing with its last inspection date "
        "its measured flow rate its vibration level and the name of the technician who signed it off so that "
        "the next crew knows which units need attention before the cold season starts again")

INPUTS = [
    {"id": 0, "text": f"COPY {LONG} Reach Dana at dana.k@corpmail.net for access."},
    {"id": 1, "text": "Write a haiku about rain. My email is lee.w@corpmail.net."},
    {"id": 2, "text": "Summarise the meeting notes about the parking rules."},
    {"id": 3, "text": "LEAKPII Describe a pleasant walk in the park."},
]

SCRIPT = [
    {"match": r"^COPY (.*)$", "reply_template": r"\1"},                       # copies its input
    {"match": "LEAKPII", "reply": "A walk; call me on +1 212 736 5000 or write to sam.b@mailbox.org."},
    {"match": ".", "reply": "A calm and original answer about something else entirely."},
]

FLOW = """version: 1
name: levels
params:
  backend: {default: openai}
  base_url: {default: ""}
  model: {default: fixture}
llm:
  backend: ${backend}
  base_url: ${base_url}
  model: ${model}
  concurrency: 4
%s
blocks:
  - name: respond
    type: llm_generate
    config: {prompt: "{{ text }}", output: response}
"""


def flow_file(work, privacy_line):
    p = work / f"flow-{abs(hash(privacy_line))}.yaml"
    p.write_text(FLOW % privacy_line)
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--llama-server")
    a = ap.parse_args()
    exe = a.synthforge
    work = workdir("sf-levels-")
    inputs = write_jsonl(work / "in.jsonl", INPUTS)

    with Fixture(work, script=SCRIPT) as fx:
        # off: nothing added, the copy and the PII go through.
        r = run_flow(exe, flow_file(work, "privacy: off"), work, "off", [inputs], openai_sets(fx))
        check(len(r.rows) == 4 and [b["name"] for b in r.metadata["blocks"]] == ["respond"], r.metadata["blocks"])

        # standard
        r = run_flow(exe, flow_file(work, "privacy: standard"), work, "standard", [inputs], openai_sets(fx))
        names = [b["name"] for b in r.metadata["blocks"]]
        check(names == ["respond", "_privacy_leakage_response", "_privacy_pii"], names)
        ids = sorted(row["id"] for row in r.rows)
        check(ids == [1, 2, 3], f"standard kept {ids}; the verbatim copy (0) must go")
        copy = r.rejected_by("_privacy_leakage_response")
        check(len(copy) == 1 and copy[0]["id"] == 0, copy)
        out = json.dumps(r.rows)
        check("sam.b@mailbox.org" not in out and "736 5000" not in out and "lee.w@corpmail.net" not in out,
              "standard left PII in the output")
        check("<EMAIL>" in out, "standard: no placeholder in the output")
        check(all("rougel" in row["leakage"] for row in r.rows), r.rows[0])

        # strict
        before = len(fx.requests())
        r = run_flow(exe, flow_file(work, "privacy: strict"), work, "strict", [inputs], openai_sets(fx))
        sent = json.dumps([e.get("body") for e in fx.requests()[before:]])
        check("lee.w@corpmail.net" not in sent and "dana.k@corpmail.net" not in sent,
              "strict: an input email reached the model")
        names = [b["name"] for b in r.metadata["blocks"]]
        check(names == ["_privacy_pii_input", "respond", "_privacy_leakage_response", "_privacy_pii"], names)
        ids = sorted(row["id"] for row in r.rows)
        check(ids == [1, 2], f"strict kept {ids}: the copy (0) and the answer with PII (3) must go")
        check([x["id"] for x in r.rejected_by("_privacy_pii")] == [3], r.rejects)

    # dp: refused without the mechanism, and with a model call before it.
    for line, want in (("privacy: dp", "needs a differentially private mechanism"),
                       ("privacy: {level: dp}", "needs a differentially private mechanism")):
        p = subprocess.run([exe, "validate", str(flow_file(work, line))], capture_output=True, text=True)
        check(p.returncode != 0 and want in (p.stdout + p.stderr), (line, p.returncode, p.stdout, p.stderr))
    dp_flow = work / "dp.yaml"
    dp_flow.write_text("""version: 1
privacy: dp
llm: {backend: openai, base_url: "http://127.0.0.1:9/v1", model: m}
blocks:
  - name: respond
    type: llm_generate
    config: {prompt: "{{ text }}", output: response}
  - name: evolve
    type: private_evolution
    config: {task: notes, epsilon: 2, embedding: {backend: llama, model: e.gguf, embeddings: true}}
""")
    p = subprocess.run([exe, "validate", str(dp_flow)], capture_output=True, text=True)
    check(p.returncode != 0 and "block 'respond'" in (p.stdout + p.stderr), (p.stdout, p.stderr))
    print("ok: privacy levels")


if __name__ == "__main__":
    main()
