#!/usr/bin/env python3
"""`synthforge convert` between chat formats, through the real CLI.

- The alpaca seed set (examples/data) converts to messages with --from detected: one user turn
  (instruction, then the input after a blank line) and one assistant turn per record, ids kept.
- messages -> sharegpt -> messages gives back the same bytes; so does alpaca -> sharegpt -> alpaca
  for records without an input.
- Records a target cannot hold go to the rejects with the reason, the rest convert in order:
  a multi-turn chat as plain alpaca (kept with --alpaca-history), a tool turn, a chat ending with
  the user, a record in no known format. Alpaca from CSV works too.
"""
import argparse
import csv
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEEDS = ROOT / "examples" / "data" / "seed_instructions.jsonl"


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def read(path):
    return [json.loads(l) for l in pathlib.Path(path).read_text().splitlines() if l.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    a = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"sf-convert-{os.getpid()}-"))

    def convert(*args, expect=0):
        p = subprocess.run([a.synthforge, "convert", *map(str, args)], capture_output=True, text=True)
        check(p.returncode == expect, f"convert {args}: exit {p.returncode}\n{p.stderr}")
        return p

    try:
        seeds = read(SEEDS)
        msgs = work / "msgs.jsonl"
        p = convert(SEEDS, "-o", msgs, "--to", "messages")
        check("looks like alpaca" in p.stderr, p.stderr)
        out = read(msgs)
        check(len(out) == len(seeds), f"{len(out)} of {len(seeds)} converted")
        for s, o in zip(seeds, out):
            user = s["instruction"] + ("\n\n" + s["input"] if s["input"] else "")
            check(o["id"] == s["id"] and o["messages"] == [{"role": "user", "content": user},
                                                            {"role": "assistant", "content": s["output"]}], o)
        print(f"alpaca -> messages: {len(out)} records, input after the instruction, ids kept")

        share = work / "share.jsonl"
        convert(msgs, "-o", share, "--from", "messages", "--to", "sharegpt", "-q")
        check(all(r["conversations"][0]["from"] == "human" for r in read(share)), read(share)[0])
        back = work / "back.jsonl"
        convert(share, "-o", back, "--to", "messages", "-q")
        check(back.read_bytes() == msgs.read_bytes(), "messages -> sharegpt -> messages changed the records")
        no_input = work / "noinput.jsonl"
        no_input.write_text("".join(json.dumps(s) + "\n" for s in seeds if not s["input"]))
        share2, alp = work / "share2.jsonl", work / "alp.jsonl"
        convert(no_input, "-o", share2, "--to", "sharegpt", "-q")
        convert(share2, "-o", alp, "--to", "alpaca", "-q")
        want = [s for s in seeds if not s["input"]]
        check([list(r.items()) for r in read(alp)] == [list(s.items()) for s in want],
              "alpaca -> sharegpt -> alpaca changed records without input")
        print("round trips: messages/sharegpt and alpaca/sharegpt are lossless")

        chats = work / "chats.jsonl"
        rows = [
            {"id": "one", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                                       {"role": "assistant", "content": "Hello."}]},
            {"id": "multi", "messages": [{"role": "user", "content": "A?"}, {"role": "assistant", "content": "a"},
                                         {"role": "user", "content": "B?"}, {"role": "assistant", "content": "b"}]},
            {"id": "tool", "messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "42"}]},
            {"id": "open", "messages": [{"role": "user", "content": "unanswered"}]},
        ]
        chats.write_text("".join(json.dumps(r) + "\n" for r in rows))
        alpaca = work / "chats_alpaca.jsonl"
        convert(chats, "-o", alpaca, "--to", "alpaca", "-q")
        got = read(alpaca)
        check([r["id"] for r in got] == ["one"] and got[0]["system"] == "Be brief.", got)
        rejects = {r["id"]: r for r in read(work / "chats_alpaca.rejects.jsonl")}
        check(set(rejects) == {"multi", "tool", "open"}, rejects)
        check(all(r["_rejected_by"] == "convert" and r["_source"] for r in rejects.values()), rejects)
        check("2 exchanges" in rejects["multi"]["_reason"], rejects["multi"]["_reason"])
        check("role 'tool'" in rejects["tool"]["_reason"], rejects["tool"]["_reason"])
        check("ends with a user turn" in rejects["open"]["_reason"], rejects["open"]["_reason"])
        hist = work / "hist.jsonl"
        convert(chats, "-o", hist, "--to", "alpaca", "--alpaca-history", "--rejects", work / "hist_rej.jsonl", "-q")
        got = {r["id"]: r for r in read(hist)}
        check(got["multi"]["history"] == [["A?", "a"]] and got["multi"]["instruction"] == "B?", got)
        print("rejects: multi-turn as alpaca, tool turns, unanswered chats, each with its reason; history keeps them")

        csv_in = work / "alpaca.csv"
        with csv_in.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["instruction", "input", "output"])
            w.writeheader()
            w.writerow({"instruction": "Add.", "input": "2, 3", "output": "5"})
        csv_out = work / "csv_msgs.jsonl"
        convert(csv_in, "-o", csv_out, "--to", "messages", "-q")
        check(read(csv_out)[0]["messages"][0]["content"] == "Add.\n\n2, 3", read(csv_out))

        odd = work / "odd.jsonl"
        odd.write_text('{"text": "no chat here"}\n')
        p = convert(odd, "-o", work / "odd_out.jsonl", "--to", "messages")
        check("0 converted, 1 rejected" in p.stderr, p.stderr)
        check("give --from" in read(work / "odd_out.rejects.jsonl")[0]["_reason"], "no reason for an unknown format")
        p = convert(odd, "-o", work / "x.jsonl", "--to", "yaml", expect=2)
        print("csv alpaca input and unknown formats: OK")
        print("OK")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
