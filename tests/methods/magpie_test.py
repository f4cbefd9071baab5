#!/usr/bin/env python3
"""flows/magpie.yaml: the fixture server, llama-server and the in-process backend.

1. Fixture server (completions endpoint, chatml preset): each query request is exactly the
   user-turn opening "<|im_start|>user\\n" with the turn's end as a stop string and a seed of
   its own; the scripted queries come back, a duplicate and a too-short query are rejected
   with their reasons, and every query is answered.
2. A chat endpoint is refused before anything is sent, with the reason.
3. llama-server and the in-process llama backend with the tiny random model: the runs finish
   and every generated record is a row or a rejected row (the text itself is noise).
"""
import argparse
import subprocess

from harness import Fixture, LlamaServer, check, openai_sets, run_flow, tiny_model, workdir

QUERIES = ["How do I keep a basil plant alive on a windowsill?",
           "What is a gentle way to start learning chess openings?",
           "How do I keep a basil plant alive on a windowsill?",
           "Hi"]
SCRIPT = [{"match": r"^<\|im_start\|>user\n$", "reply": QUERIES},
          {"match": r".", "reply": "Water it when the top of the soil is dry and give it sun."}]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--llama-server", required=True)
    a = ap.parse_args()
    work = workdir("magpie")

    with Fixture(work, script=SCRIPT) as fx:
        r = run_flow(a.synthforge, "magpie", work, "fixture", [],
                     openai_sets(fx, num_instructions=4, pre_query_template="chatml", concurrency=2))
        queries = [e for e in fx.requests() if e["path"].endswith("/completions") and "prompt" in e["body"]]
        check(len(queries) == 4, f"{len(queries)} query requests, want 4")
        for e in queries:
            check(e["body"]["prompt"] == "<|im_start|>user\n", f"query prompt {e['body']['prompt']!r}")
            check("<|im_end|>" in e["body"].get("stop", []), f"stop {e['body'].get('stop')}")
        seeds = {e["body"].get("seed") for e in queries}
        check(len(seeds) == 4, f"query seeds repeat: {seeds}")
        check(sorted(row["instruction"] for row in r.rows) == sorted(set(QUERIES[:2])), f"rows {r.rows}")
        check(all(row["output"].startswith("Water it") for row in r.rows), f"answers {r.rows}")
        check(list(r.rows[0]) == ["instruction", "output"], f"columns {list(r.rows[0])}")
        check(len(r.rejected_by("unique")) == 1, f"duplicate: {r.rejects}")
        short = r.rejected_by("usable")
        check(len(short) == 1 and "too short to be a query" in short[0]["_reason"], f"short: {short}")
        answered = [e for e in fx.requests() if e["path"].endswith("/chat/completions")]
        check(len(answered) == 2, f"{len(answered)} answers asked, want 2")

        bad = run_flow(a.synthforge, "magpie", work, "chat", [],
                       openai_sets(fx, num_instructions=2, pre_query_template="chatml"),
                       extra=["--set", "llm.endpoint=chat"], expect_ok=False)
        check(bad.proc.returncode != 0 and "needs llm.endpoint: completions" in bad.proc.stderr,
              f"chat endpoint: exit {bad.proc.returncode} {bad.proc.stderr}")
    print("1-2. fixture: queries from the user-turn opening, duplicates and short ones rejected")

    n = 6
    with LlamaServer(a.synthforge, a.llama_server, work) as server:
        r = run_flow(a.synthforge, "magpie", work, "llama-server", [],
                     server.sets(num_instructions=n, pre_query_template="chatml", query_max_tokens=8, max_tokens=6,
                                 min_words=1))
        check(len(r.rows) + len(r.rejects) == n, f"llama-server: {len(r.rows)} rows + {len(r.rejects)} rejects")
    r = run_flow(a.synthforge, "magpie", work, "in-process", [],
                 {"backend": "llama", "model": tiny_model(a.synthforge, work), "num_instructions": n,
                  "query_max_tokens": 8, "max_tokens": 6, "min_words": 1, "concurrency": 2})
    check(len(r.rows) + len(r.rejects) == n, f"in-process: {len(r.rows)} rows + {len(r.rejects)} rejects")
    check(all(x["_reason"] for x in r.rejects), "a reject without its reason")
    print("3. tiny model on llama-server and in-process: every record accounted for")
    print("magpie: ok")


if __name__ == "__main__":
    main()
