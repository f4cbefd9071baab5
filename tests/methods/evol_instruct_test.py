#!/usr/bin/env python3
"""flows/evol_instruct.yaml against the scripted fixture server.

The script evolves an instruction by appending to it (so lineage is visible in the text),
and plants one instruction per elimination rule: the rewrite copies the prompt's
scaffolding, the equality check finds no information gain, the answer apologises in
under 80 words, the answer is only stop words. Checks: rows carry round, operation,
id and parent id; survivors are evolved again from their own text; each planted
instruction is eliminated with its reason in every round and its parent is kept for
the next round; the operations drawn vary.
"""
import argparse
import re

from harness import Fixture, check, openai_sets, run_flow, workdir, write_jsonl

INPUT = [
    "Explain how vaccines train the immune system.",
    "Describe a simple way to start saving money each month.",
    "Name a colour PLANT-SCAFFOLD",
    "Summarise the plot of a famous novel PLANT-EQUAL",
    "Tell me a secret PLANT-SORRY",
    "Say something PLANT-EMPTY",
]
EVOLVE = r"(?s)Instruction:\n(.*?)\n\nReply with the new instruction only"
SCRIPT = [
    {"match": r"(?s)Instruction:\nName a colour PLANT-SCAFFOLD",
     "reply": "#Rewritten Prompt#: Name a colour and give its hex code."},
    {"match": EVOLVE, "reply_template": r"\1 Give one more detail."},
    {"match": r"(?s)Compare the two instructions.*PLANT-EQUAL", "reply": '{"equal": true}'},
    {"match": r"Compare the two instructions", "reply": '{"equal": false}'},
    {"match": r"PLANT-SORRY", "reply": "Sorry, I cannot share that."},
    {"match": r"PLANT-EMPTY", "reply": "It is, and the... of it."},
    {"match": r".", "reply": "A complete answer that covers the question in several careful sentences."},
]
REASONS = {
    "Name a colour PLANT-SCAFFOLD": ("scaffolding", "copies the prompt's scaffolding"),
    "Summarise the plot of a famous novel PLANT-EQUAL": ("information_gain", "no information gain over the parent"),
    "Tell me a secret PLANT-SORRY": ("apology", "the answer apologises"),
    "Say something PLANT-EMPTY": ("empty_answer", "only punctuation and stop words"),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--llama-server")
    a = ap.parse_args()
    work = workdir("evol")
    inp = write_jsonl(work / "in.jsonl", [{"instruction": t} for t in INPUT])

    with Fixture(work, script=SCRIPT) as fx:
        r = run_flow(a.synthforge, "evol_instruct", work, "run", [inp], openai_sets(fx, rounds=3, concurrency=4))
        loop = r.block("evolve")["loop"]
        check(loop["rounds"] == 3, f"loop: {loop}")

        # Survivors: two lineages, one row per round, each evolved from the previous one.
        check(len(r.rows) == 6, f"{len(r.rows)} rows: {r.rows}")
        by_id = {row["id"]: row for row in r.rows}
        for root in ("0", "1"):
            chain = [by_id.get(f"{root}.1"), by_id.get(f"{root}.1.2"), by_id.get(f"{root}.1.2.3")]
            check(all(chain), f"lineage of {root}: {sorted(by_id)}")
            base = INPUT[int(root)]
            for k, row in enumerate(chain, start=1):
                check(row["round"] == k, f"{row}")
                check(row["instruction"] == base + " Give one more detail." * k, f"round {k}: {row['instruction']}")
                check(row["output"].startswith("A complete answer"), f"{row}")
                check(row["operation"] in ("add_constraints", "deepen", "concretize", "increase_reasoning",
                                           "complicate_input", "breadth"), f"{row}")
            check(chain[0]["parent_id"] == root and chain[1]["parent_id"] == f"{root}.1"
                  and chain[2]["parent_id"] == f"{root}.1.2", f"parents: {chain}")
        ops = {row["operation"] for row in r.rows}
        check(len(ops) >= 2, f"every evolution drew the same operation: {ops}")

        # Each planted instruction fails in every round, with its reason; its parent is kept.
        for k, text in enumerate(INPUT):
            if text not in REASONS:
                continue
            block, words = REASONS[text]
            hits = [x for x in r.rejected_by(block) if x.get("parent_id") == str(k)]
            check(len(hits) == 3, f"{block}: {len(hits)} rejects for input {k}, want one per round: {hits}")
            check(sorted(x["round"] for x in hits) == [1, 2, 3], f"{block} rounds {hits}")
            check(all(words in x["_reason"] for x in hits), f"{block} reason: {hits[0]['_reason']}")
        check(len(r.rejects) == 12, f"{len(r.rejects)} rejects, want 4 planted x 3 rounds")

        # Round 2 evolves the round-1 text of a survivor, and the kept parent's original text.
        prompts = fx.prompts()
        check(any(INPUT[0] + " Give one more detail.\n\nReply" in p for p in prompts), "round 2 prompt missing")
        check(sum(1 for p in prompts if re.search(EVOLVE, p) and "PLANT-SORRY" in p) == 3,
              "the kept parent was not evolved again in each round")

        # include_input adds the originals as round 0.
        r0 = run_flow(a.synthforge, "evol_instruct", work, "with-input", [inp],
                      openai_sets(fx, rounds=1, include_input="true"))
        originals = [row for row in r0.rows if row["round"] == 0]
        check([row["instruction"] for row in originals] == INPUT, f"round 0: {originals}")
    print("evol_instruct: ok")


if __name__ == "__main__":
    main()
