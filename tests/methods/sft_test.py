#!/usr/bin/env python3
"""flows/sft.yaml against the scripted fixture server.

Input mixes instruction records and topic records (and a topics text file is run too). Checks:
topic records get an instruction written for them and instruction records do not; every
instruction is answered; the judge's weighted score is computed from the scripted scores and
pairs below min_score are rejected with their scores; the safety stage drops a response hitting
the shipped weapons deny-list without asking the classifier, and one the scripted classifier
calls unsafe, each with its category; a near-duplicate instruction is rejected by the ROUGE-L
novelty check; the quality, safety and diversity rejections are reported apart (block names
quality.*, safety, diversity.* in rejects.jsonl and metadata.json); output rows carry the
judge's verdict and score and the safety verdict.
"""
import argparse
import json

from harness import Fixture, check, openai_sets, run_flow, workdir, write_jsonl


def scores(h, c, co, cx, v):
    return json.dumps({"rationale": "scripted", "scores": {"helpfulness": h, "correctness": c, "coherence": co,
                                                           "complexity": cx, "verbosity": v}})


def verdict(v, categories):
    return json.dumps({"verdict": v, "categories": categories})


SCRIPT = [
    # The safety classifier (its prompt lists the categories of unsafe content).
    {"match": r"(?s)PLANTED-HARM.*Categories of unsafe content", "reply": verdict("unsafe", ["self_harm"])},
    {"match": r"Categories of unsafe content", "reply": verdict("safe", [])},
    {"match": r"(?s)Topic: (.*?)\n\nReply with the instruction only", "reply_template": r"Explain the basics of \1 to a beginner."},
    {"match": r"(?s)### Response\s*\n\s*POOR", "reply": scores(1, 1, 2, 0, 1)},
    {"match": r"(?s)### Response", "reply": scores(4, 4, 3, 2, 2)},
    {"match": r"(?i)quantum", "reply": "POOR answer: it is complicated."},
    {"match": r"(?i)feeling hopeless", "reply": "PLANTED-HARM: a scripted answer the classifier flags."},
    {"match": r"(?i)chemistry club", "reply": "A scripted answer that names a Pipe Bomb, which the deny-list catches."},
    {"match": r".", "reply": "A clear answer with the key points, an example and a short summary."},
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--llama-server")
    a = ap.parse_args()
    work = workdir("sft")
    inp = write_jsonl(work / "mixed.jsonl", [
        {"instruction": "Give three tips for keeping houseplants healthy in winter."},
        {"topic": "sourdough baking"},
        {"instruction": "Describe quantum entanglement in one paragraph."},
        {"instruction": "Give three tips for keeping houseplants healthy in the winter."},
        {"instruction": "Summarize the passage.", "input": "The river rose overnight and closed two roads."},
        {"instruction": "Write a diary entry about feeling hopeless."},
        {"instruction": "Suggest an experiment for a school chemistry club."},
    ])
    with Fixture(work, script=SCRIPT) as fx:
        r = run_flow(a.synthforge, "sft", work, "run", [inp], openai_sets(fx, min_score=0.6))
        prompts = fx.prompts()
        written = [p for p in prompts if "Reply with the instruction only" in p]
        check(len(written) == 1 and "Topic: sourdough baking" in written[0], f"instruction prompts {written}")
        instructions = [row["instruction"] for row in r.rows]
        check(instructions == ["Give three tips for keeping houseplants healthy in winter.",
                               "Explain the basics of sourdough baking to a beginner.",
                               "Summarize the passage."], f"kept {instructions}")
        # (0.3*4/4 + 0.3*4/4 + 0.2*3/4 + 0.1*2/4 + 0.1*2/4) / 1.0 = 0.85
        for row in r.rows:
            check(abs(row["score"] - 0.85) < 1e-9, f"score {row['score']}")
            check(row["judge"]["scores"]["helpfulness"] == 4, f"judge {row['judge']}")
            check(row["output"].startswith("A clear answer"), f"output {row}")
            check("finish_reason" not in row, "finish_reason left in the output")
        check(any("Summarize the passage.\n\nThe river rose" in p for p in prompts), "input not sent with the instruction")
        low = r.rejected_by("quality.judge")
        check(len(low) == 1 and "quantum" in low[0]["instruction"] and "judge score" in low[0]["_reason"]
              and "helpfulness 1/4" in low[0]["_reason"], f"judge rejects {low}")
        dup = r.rejected_by("diversity.novelty")
        check(len(dup) == 1 and "in the winter" in dup[0]["instruction"] and "ROUGE-L" in dup[0]["_reason"],
              f"novelty rejects {dup}")
        unsafe = r.rejected_by("safety")
        check([x["_reason"] for x in unsafe] == ["safety: self_harm (classifier)",
                                                 "safety: weapons (deny-list 'pipe bomb')"], f"safety rejects {unsafe}")
        check(unsafe[1]["safety"]["by"] == "deny-list", f"deny-list verdict {unsafe[1]}")
        # The deny-list decided on its own: the classifier never saw that response.
        classified = [p for p in prompts if "Categories of unsafe content" in p]
        check(len(classified) == 5 and not any("Pipe Bomb" in p for p in classified),
              f"classifier prompts {len(classified)}")
        for row in r.rows:
            check(row["safety"]["verdict"] == "safe" and row["safety"]["by"] == "classifier", f"safety {row}")
        # Quality, safety and diversity rejections, each group counted apart, as seed 001's
        # CombinedFilter reports them.
        groups = {}
        for x in r.rejects:
            group = x["_rejected_by"].split(".")[0]
            groups[group] = groups.get(group, 0) + 1
        check(groups == {"quality": 1, "safety": 2, "diversity": 1}, f"rejection groups {groups}")
        meta = {b["name"]: b for b in r.metadata["blocks"]}
        check(meta["safety"]["rows_rejected"] == 2 and meta["quality.judge"]["rows_rejected"] == 1
              and meta["diversity.novelty"]["rows_rejected"] == 1, f"metadata blocks {r.metadata['blocks']}")
        check(len(r.rows) + len(r.rejects) == 7, "rows + rejects != records")

        topics = work / "topics.txt"
        topics.write_text("tide pools\nbudget travel\n")
        t = run_flow(a.synthforge, "sft", work, "topics", [topics], openai_sets(fx))
        # Each line became a topic with an instruction written for it; the scripted instructions
        # share most words, so the second is a near-duplicate of the first.
        made = [row["instruction"] for row in t.rows + t.rejects]
        check(made == ["Explain the basics of tide pools to a beginner.",
                       "Explain the basics of budget travel to a beginner."], f"topics file: {made}")
        check([x["_rejected_by"] for x in t.rejects] == ["diversity.novelty"], f"topics rejects {t.rejects}")
        check(t.rows[0]["topic"] == "tide pools", f"topic column {t.rows[0]}")
    print("sft: ok")


if __name__ == "__main__":
    main()
