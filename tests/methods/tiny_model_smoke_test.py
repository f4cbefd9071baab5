#!/usr/bin/env python3
"""The method flows that have no smoke run of their own, against llama-server serving the tiny
random-weight model. Its text is noise, so nothing here is about quality: each run must finish,
account for every record (a row or a rejected row with a reason), and a loop must stop by
itself with its reason in metadata.json.
"""
import argparse

from harness import LlamaServer, check, run_flow, workdir, write_jsonl


def accounted(result, n, name):
    check(all(x.get("_reason") for x in result.rejects), f"{name}: a reject without its reason")
    check(len(result.rows) + len(result.rejects) >= n, f"{name}: {len(result.rows)} rows + "
                                                       f"{len(result.rejects)} rejects for {n} records")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--llama-server", required=True)
    a = ap.parse_args()
    work = workdir("tiny-smoke")
    seeds = write_jsonl(work / "seeds.jsonl", [
        {"instruction": f"Give {k} tips for a calm morning routine number {k}.", "input": "", "output": "Wake early."}
        for k in range(8)])
    with LlamaServer(a.synthforge, a.llama_server, work) as server:
        # Exit 1 is allowed: a random model's answers may fail to parse, and the run says so.
        small = {"max_tokens": 24, "concurrency": 4}
        r = run_flow(a.synthforge, "self_instruct", work, "self_instruct", [seeds],
                     server.sets(num_instructions=3, prompts_per_round=2, max_rounds=4, **small), expect_ok=False)
        check(r.proc.returncode in (0, 1), f"self_instruct: exit {r.proc.returncode}: {r.proc.stderr[-800:]}")
        loop = r.block("bootstrap")["loop"]
        check(loop["stopped_because"], f"self_instruct loop: {loop}")
        accounted(r, 0, "self_instruct")
        print(f"self_instruct: {len(r.rows)} rows, loop stopped: {loop['stopped_because']}")

        r = run_flow(a.synthforge, "evol_instruct", work, "evol_instruct", [seeds],
                     server.sets(rounds=2, **small), expect_ok=False)
        check(r.proc.returncode in (0, 1), f"evol_instruct: exit {r.proc.returncode}: {r.proc.stderr[-800:]}")
        check(r.block("evolve")["loop"]["rounds"] == 2, f"evol loop {r.block('evolve')}")
        accounted(r, 0, "evol_instruct")
        print(f"evol_instruct: {len(r.rows)} rows, {len(r.rejects)} rejects")

        r = run_flow(a.synthforge, "sft", work, "sft", [seeds], server.sets(min_score=0.0, **small),
                     expect_ok=False)
        check(r.proc.returncode in (0, 1), f"sft: exit {r.proc.returncode}: {r.proc.stderr[-800:]}")
        accounted(r, 8, "sft")
        print(f"sft: {len(r.rows)} rows, {len(r.rejects)} rejects")

        r = run_flow(a.synthforge, "controlled", work, "controlled", [],
                     server.sets(count=4, topic="gardening", **small), expect_ok=False)
        check(r.proc.returncode in (0, 1), f"controlled: exit {r.proc.returncode}: {r.proc.stderr[-800:]}")
        accounted(r, 4, "controlled")
        print(f"controlled: {len(r.rows)} rows, {len(r.rejects)} rejects")
    print("tiny model smoke: ok")


if __name__ == "__main__":
    main()
