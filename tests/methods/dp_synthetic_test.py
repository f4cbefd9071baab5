#!/usr/bin/env python3
"""flows/dp_synthetic.yaml (Private Evolution, Aug-PE) end to end: the generating model is the
scripted fixture server, the embeddings come from the tiny model in-process.

- No private text reaches any request the generating model receives (nor --dry-run's), and
  none is copied into the rejects file; duplicates are counted once.
- The votes steer: when the first population contains copies of the private texts, a
  near-noiseless run keeps exactly those (the tiny model's embeddings are noise, but equal
  texts still embed equally).
- metadata.json records epsilon, delta, sigma and T, matching `synthforge privacy budget`.
- A run killed during the variation calls resumes without drawing the saved histogram's noise
  again, and with a test noise seed ends byte-identical to an uninterrupted run.
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Fixture, check, openai_sets, read_jsonl, run_flow, tiny_model, workdir,  # noqa: E402
                     write_jsonl)

import argparse  # noqa: E402
import pathlib  # noqa: E402

BUILTIN = pathlib.Path(__file__).resolve().parents[2] / "flows" / "dp_synthetic.yaml"

PRIVATE = [f"Patient {i} (ref zq{i:03d}x) reported {w} after the second dose and was sent home."
           for i, w in enumerate(["mild headache", "a sore arm", "dizziness", "nausea", "a rash", "fatigue",
                                  "chills", "a fever", "joint pain", "a cough", "insomnia", "back pain"])]

# The model's answers: a first population of invented notes, and rewrites that append a marker.
POPULATION = [f"Synthetic note {i}: a visitor felt {w} and rested for an hour." for i, w in
              enumerate(["tired", "cold", "fine", "hungry", "sleepy", "dizzy", "warm", "calm"])]
SCRIPT = [
    {"match": "Write one new example", "reply": POPULATION},
    {"match": r"example of [^\n]*:\n\n(.*?)\n\nWrite a new text", "reply_template": r"\1 (rewritten)"},
]


def base_sets(fixture, model, **more):
    sets = openai_sets(fixture, embedding_model=model, task="a short clinical note", samples=8, iterations=2,
                       epsilon=4.0, concurrency=8)
    sets.update(more)
    return sets


def private_leaks(texts):
    """Private texts, or their reference codes, found in `texts`."""
    found = []
    for t in texts:
        for p in PRIVATE:
            if p in t or p.split("(ref ")[1][:7] in t:
                found.append(p)
    return found


def block_states(run_dir):
    db = sqlite3.connect(run_dir / "run.sqlite")
    try:
        return [json.loads(v) for (v,) in db.execute("SELECT delta FROM block_state ORDER BY stage, idx")]
    finally:
        db.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--llama-server")
    a = ap.parse_args()
    exe = a.synthforge
    work = workdir("sf-dp-")
    model = tiny_model(exe, work)
    private = write_jsonl(work / "private.jsonl", [{"text": t} for t in PRIVATE + PRIVATE[:2]])

    # 1. Nothing private reaches the model; the budget is recorded.
    with Fixture(work, script=SCRIPT) as fx:
        r = run_flow(exe, "dp_synthetic", work, "run", [private], base_sets(fx, model))
        requests = fx.requests()
    bodies = [json.dumps(e.get("body")) + (e.get("prompt") or "") for e in requests]
    check(len(requests) >= 8, f"only {len(requests)} requests reached the model")
    check(not private_leaks(bodies), f"private text in a model request: {private_leaks(bodies)[:1]}")
    check(len(r.rows) == 8, f"{len(r.rows)} output rows, expected the population of 8")
    check(all(row["_pe_origin"] in ("selected", "variation") for row in r.rows), r.rows[:2])
    check(not private_leaks([json.dumps(x) for x in r.rejects]), "private text copied into the rejects file")
    dupes = [x for x in r.rejects if "duplicate private text" in x.get("_reason", "")]
    check(len(dupes) == 2, f"{len(dupes)} duplicate rejects, expected 2: {r.rejects[:3]}")
    block = r.block("evolve")
    check(block is not None and "privacy" in block, f"no privacy section in metadata.json: {block}")
    p = block["privacy"]
    check(p["iterations"] == 2 and p["iterations_done"] == 2 and p["private_records"] == 12, p)
    check(abs(p["epsilon"] - 4.0) < 1e-6, p)
    check(abs(p["delta"] - 1 / (12 * __import__("math").log(12))) < 1e-15, p)
    budget = subprocess.run([exe, "privacy", "budget", "--epsilon", "4", "--delta", repr(p["delta"]), "--iterations",
                             "2", "--json"], capture_output=True, text=True)
    check(budget.returncode == 0, budget.stderr)
    check(abs(json.loads(budget.stdout)["sigma"] - p["sigma"]) < 1e-9, (budget.stdout, p))
    check(p["noise"] == "secure", p)

    # --dry-run shows the first population's requests only: nothing private there either.
    dry = subprocess.run([exe, "run", "dp_synthetic", "-i", str(private), "--dry-run", "3", "--run-dir",
                          str(work / "dry")] + [x for k, v in base_sets(fx, model).items() for x in ("--set", f"{k}={v}")],
                         capture_output=True, text=True)
    check(dry.returncode == 0, dry.stderr)
    check("Write one new example" in dry.stdout and not private_leaks([dry.stdout]), dry.stdout[:500])

    # 2. The votes steer: copies of five private texts among decoys, near-zero noise, one
    #    iteration keeping half of 10: exactly the five copies are kept.
    steer_script = [{"match": "Write one new example", "reply": PRIVATE[:5] + POPULATION[:5]}] + SCRIPT[1:]
    with Fixture(work, script=steer_script) as fx:
        r = run_flow(exe, "dp_synthetic", work, "steer", [write_jsonl(work / "p5.jsonl", [{"text": t} for t in
                                                                                          PRIVATE[:5]])],
                     base_sets(fx, model, samples=10, iterations=1, epsilon="null", sigma=0.001))
    kept = sorted(row["text"] for row in r.rows if row["_pe_origin"] == "selected")
    check(kept == sorted(PRIVATE[:5]), f"kept {kept}")

    # 3. Kill during the variation calls, then resume.
    #    a) A test noise seed: the resumed output is byte-identical to an uninterrupted run's.
    #    The first population's answers must not depend on arrival order here, so the flow asks
    #    with the sample's number in the prompt and the fixture answers from it.
    flow = work / "dp_numbered.yaml"
    flow.write_text(BUILTIN.read_text() + '      random_prompt: "Write one new example of {{ task }}, number {{ index }}."\n')
    script = [{"match": r"Write one new example.*number (\d+)", "reply_template": r"Synthetic note \1: all fine."}]
    script += SCRIPT[1:]
    seeded = dict(noise_seed=5, iterations=3)
    with Fixture(work, script=script) as fx:
        whole = run_flow(exe, flow, work, "whole", [private], base_sets(fx, model, **seeded))
    for label, extra in (("seeded", seeded), ("secure", {"iterations": 3})):
        with Fixture(work, script=script, faults={"slow_ms": 150}) as fx:
            sets = base_sets(fx, model, **extra)
            out, run_dir = work / f"{label}.jsonl", work / label
            cmd = [exe, "run", str(flow), "-i", str(private), "-o", str(out), "--run-dir", str(run_dir), "-q"]
            cmd += [x for k, v in sets.items() for x in ("--set", f"{k}={v}")]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 300
            while time.time() < deadline and proc.poll() is None:
                if any("(rewritten)" in (e.get("prompt") or "") or "Write a new text" in (e.get("prompt") or "")
                       for e in fx.requests()):
                    break
                time.sleep(0.05)
            check(proc.poll() is None, f"{label}: the run ended before any variation call")
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            before = [s for s in block_states(run_dir) if "iteration" in s]
            check(len(before) >= 1, f"{label}: no iteration saved before the variation calls")
            again = subprocess.run([exe, "run", str(flow), "-i", str(private), "-o", str(out), "--resume",
                                    str(run_dir), "-q"] + [x for k, v in sets.items() for x in ("--set", f"{k}={v}")],
                                   capture_output=True, text=True, timeout=600)
            check(again.returncode == 0, f"{label}: resume exited {again.returncode}: {again.stderr[-2000:]}")
        rows = read_jsonl(out)
        after = [s for s in block_states(run_dir) if "iteration" in s]
        check(after[:len(before)] == before, f"{label}: a saved histogram changed on resume")
        check([s["iteration"] for s in after] == [1, 2, 3], f"{label}: iterations saved {[s['iteration'] for s in after]}")
        if label == "seeded":
            check(out.read_bytes() == (work / "whole.jsonl").read_bytes(), "seeded: resumed output differs")
        check(len(rows) == 8, f"{label}: {len(rows)} rows")
    check(len(whole.rows) == 8, "whole run")
    print("ok: dp_synthetic")


if __name__ == "__main__":
    main()
