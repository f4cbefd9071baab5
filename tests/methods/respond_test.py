#!/usr/bin/env python3
"""flows/respond.yaml end to end (ctest label `methods`).

1. The fixture server: the model is sent the instruction, plus a blank line and the input when
   there is one, under the system message given; the answer lands in `output` (replacing an old
   one) and other columns pass through; a response cut at max_tokens is rejected by `complete`,
   an empty one (after asking again) by `respond`, each with its reason.
2. llama-server with the tiny random model: the run finishes and every instruction is a row or
   a rejected row with a reason. Its text is noise, so nothing is checked about it.
"""
import argparse
import json
import sys
import time

import harness
from harness import check

RECORDS = [
    {"id": 1, "instruction": "Name the largest planet.", "output": "an old answer"},
    {"id": 2, "instruction": "Translate the sentence into French.", "input": "The library opens at nine."},
    {"id": 3, "instruction": "List three primary colours.", "input": None},
    {"id": 4, "instruction": "Describe the history of Rome in detail."},
    {"id": 5, "instruction": "Say nothing at all."},
]

REPLIES = {
    1: "Jupiter is the largest planet in the Solar System.",
    2: "La bibliothèque ouvre à neuf heures.",
    3: "Red, yellow and blue.",
}

SYSTEM = "You answer briefly."


def script():
    return [
        {"match": r"^Name the largest planet\.$", "reply": REPLIES[1]},
        {"match": r"^Translate the sentence into French\.\n\nThe library opens at nine\.$", "reply": REPLIES[2]},
        {"match": r"^List three primary colours\.$", "reply": REPLIES[3]},
        {"match": r"history of Rome", "reply": "Rome was founded, according to legend, in", "finish_reason": "length"},
        {"match": r"Say nothing", "reply": "   "},
    ]


def fixture_run(exe, work):
    inp = harness.write_jsonl(work / "instructions.jsonl", RECORDS)
    with harness.Fixture(work, script=script()) as fx:
        res = harness.run_flow(exe, "respond", work, "fixture", inputs=[inp],
                               sets=harness.openai_sets(fx, system=SYSTEM))
        log = fx.requests()

    # The empty answer is asked for twice more (max_parse_retries) before its record is rejected.
    check(len(log) == len(RECORDS) + 2, f"{len(log)} requests for {len(RECORDS)} instructions")
    # Every scripted rule is anchored: a prompt with anything added would match none of them.
    for e in log:
        msgs = e["body"]["messages"]
        check([m["role"] for m in msgs] == ["system", "user"] and msgs[0]["content"] == SYSTEM,
              f"messages {msgs}")
    prompts = sorted(e["prompt"] for e in log)
    check("Translate the sentence into French.\n\nThe library opens at nine." in prompts, f"prompts {prompts}")
    check("List three primary colours." in prompts, "a null input must add nothing to the prompt")

    check([r["id"] for r in res.rows] == [1, 2, 3], f"kept ids {[r['id'] for r in res.rows]}")
    for r in res.rows:
        check(r["output"] == REPLIES[r["id"]], f"row {r}")
        check("finish_reason" not in r, "finish_reason leaked into the output")
        original = next(x for x in RECORDS if x["id"] == r["id"])
        check([k for k in r if k != "output"] == [k for k in original if k != "output"],
              f"columns changed: {list(r)}")
    by_id = {r["id"]: r for r in res.rejects}
    check(sorted(by_id) == [4, 5], f"rejects {res.rejects}")
    check(by_id[4]["_rejected_by"] == "complete" and by_id[4]["_reason"] == 'finish_reason = "length", not != "length"',
          f"cut-off reject {by_id[4]}")
    check(by_id[5]["_rejected_by"] == "respond" and "empty text" in by_id[5]["_reason"], f"empty reject {by_id[5]}")
    check(len(res.rows) + len(res.rejects) == len(RECORDS), "rows + rejects != instructions")
    print(f"1. fixture: {len(RECORDS)} instructions -> {len(res.rows)} rows, {len(res.rejects)} rejects")


def smoke_run(exe, llama_server, work):
    inp = harness.write_jsonl(work / "many.jsonl",
                              [{"id": i, "instruction": f"Explain idea number {i} in one sentence."} for i in range(24)])
    server = harness.LlamaServer(exe, llama_server, work)
    try:
        t0 = time.time()
        res = harness.run_flow(exe, "respond", work, "llama", inputs=[inp],
                               sets={"backend": "openai", "base_url": server.url, "model": "tiny",
                                     "concurrency": 4, "max_tokens": 6},
                               # Stopping at a common letter ends some of the noise early (finish_reason
                               # stop) and leaves the rest cut at max_tokens, so both paths run.
                               extra=["--set", "sampling.stop=[e]"])
        ids = sorted([r["id"] for r in res.rows] + [r["id"] for r in res.rejects])
        check(ids == list(range(24)), f"instructions unaccounted for: {ids}")
        check(all(r["_rejected_by"] in ("respond", "complete") and r["_reason"] for r in res.rejects),
              f"a reject without its reason: {res.rejects[:3]}")
        print(f"2. llama-server (tiny random model): 24 instructions -> {len(res.rows)} rows, "
              f"{len(res.rejects)} rejects in {time.time() - t0:.1f} s")
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--llama-server", required=True)
    a = ap.parse_args()
    work = harness.workdir("respond")
    fixture_run(a.synthforge, work)
    smoke_run(a.synthforge, a.llama_server, work)
    print("respond: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
