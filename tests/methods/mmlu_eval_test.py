#!/usr/bin/env python3
"""flows/mmlu_eval.yaml end to end (ctest label `methods`).

1. The fixture server, scripted per chunk and per question: a markdown document of two sections
   (two chunks). The question writer returns seven questions: three well-formed ones the verifier
   confirms, one with three options, one with two identical options (differing only in case and
   spaces), one with answer index 4, one the verifier answers differently from the key and one it
   marks ambiguous. Checks: the kept rows are exactly the confirmed questions, with their four
   choices, their key as an index and the chunk they came from; each malformed or unverified
   question is rejected by the right block with its reason; the verifier never sees the key; rows
   + rejects account for every question.
2. The tiny random model in process (backend llama): the flow finishes and every chunk and question
   is a row or a rejected row with a reason; a kept row has four distinct options and an index 0-3.
   Its text is noise, so nothing is checked about meaning. The verifier half of the flow also runs
   alone on the scripted questions: malformed ones are rejected by `well_formed`, every other one
   reaches the verifier and is kept or rejected with the verifier's disagreement.
"""
import argparse
import json
import re
import shutil
import sys
import time

import harness
from harness import check

DOC = """# Tides

Tides are the regular rise and fall of the sea surface. They are caused mostly by the pull of the Moon; the Sun's pull adds a smaller part.

When the Sun and the Moon line up, the tides are larger than usual: these are spring tides. At right angles they give the smallest tides, the neap tides.

## Tide tables

Harbour authorities publish tide tables listing the times and heights of high and low water for each day. Most harbours have two high waters a day, about twelve hours and twenty-five minutes apart.
"""

WRITE_MARK = "multiple-choice questions for an exam"
VERIFY_MARK = "Answer this multiple-choice question"

# Per chunk: a phrase only that chunk holds, its heading, and the questions the model writes:
# (question, choices, answer, verifier reply or None when the question never reaches it).
OK = "ok"
CHUNKS = [
    ("regular rise and fall", "Tides", [
        ("What mostly causes the tides?",
         ["The heat of the Sun", "The pull of the Moon", "The rotation of the Earth", "Winds over the ocean"], 1,
         {"reasoning": "The passage says tides are caused mostly by the pull of the Moon.", "choice": "B",
          "ambiguous": False}),
        ("What are the largest tides called?", ["Spring tides", "Neap tides", "King tides"], 0, None),  # 3 options
        ("What are the smallest tides called?", ["Neap tides", "Spring tides", " neap TIDES ", "Ebb tides"], 0,
         None),  # options 0 and 2 are the same
        ("When are tides larger than usual?",
         ["When the Sun and the Moon line up", "When the Moon is at right angles to the Sun",
          "When the wind blows from the sea", "When the sea is calm"], 0,
         {"reasoning": "Spring tides happen when the Sun and the Moon line up.", "choice": "A",
          "ambiguous": False}),
    ]),
    ("Harbour authorities publish", "Tides > Tide tables", [
        ("Who publishes tide tables?",
         ["Fishing clubs", "Harbour authorities", "Weather services", "Lighthouse keepers"], 4, None),  # bad index
        ("How far apart are the two daily high waters in most harbours?",
         ["About six hours", "About twelve hours and twenty-five minutes", "About twenty-four hours",
          "About eight hours"], 1,
         {"reasoning": "Twenty-four hours is the length of a day.", "choice": "C", "ambiguous": False}),  # disagrees
        ("What do tide tables list?",
         ["Times of high and low water", "Heights of high and low water", "Water temperatures", "Wave heights"], 0,
         {"reasoning": "The tables list both times and heights, so two options are correct.", "choice": "A",
          "ambiguous": True}),  # ambiguous
        ("How many high waters a day do most harbours have?", ["One", "Three", "Four", "Two"], 3,
         {"reasoning": "The passage says most harbours have two high waters a day.", "choice": "D",
          "ambiguous": False}),
    ]),
]

KEPT = ["What mostly causes the tides?", "When are tides larger than usual?",
        "How many high waters a day do most harbours have?"]
REJECTED = {
    "What are the largest tides called?": ("well_formed", "it has 3 options, not 4"),
    "What are the smallest tides called?": ("well_formed", "options 0 and 2 are the same"),
    "Who publishes tide tables?": ("well_formed", "the answer 4 is not an option index from 0 to 3"),
    "How far apart are the two daily high waters in most harbours?":
        ("verified", "the verifier chose C, the key is B: Twenty-four hours is the length of a day."),
    "What do tide tables list?":
        ("verified", "the verifier found it ambiguous: The tables list both times and heights"),
}


def script():
    rules = []
    for _, _, questions in CHUNKS:
        for q, _, _, verdict in questions:
            if verdict is not None:
                rules.append({"match": rf"(?s)^(?=.*{re.escape(VERIFY_MARK)})(?=.*\nQuestion: {re.escape(q)}\n)",
                              "reply": json.dumps(verdict)})
    for phrase, _, questions in CHUNKS:
        reply = {"questions": [{"question": q, "choices": c, "answer": a} for q, c, a, _ in questions]}
        rules.append({"match": rf"(?s)^(?=.*{re.escape(WRITE_MARK)})(?=.*<passage>\n[^<]*{re.escape(phrase)})",
                      "reply": json.dumps(reply)})
    return rules


def passage_of(prompt):
    m = re.search(r"<passage>\n(.*)\n</passage>", prompt, re.S)
    return m.group(1) if m else None


def fixture_run(exe, work):
    doc = work / "tides.md"
    doc.write_text(DOC)
    with harness.Fixture(work, script=script()) as fx:
        res = harness.run_flow(exe, "mmlu_eval", work, "fixture", inputs=[doc],
                               sets=harness.openai_sets(fx, questions_per_chunk=6),
                               extra=["--text-unit", "document"])
        log = fx.requests()

    write = [e for e in log if WRITE_MARK in (e.get("prompt") or "")]
    verify = [e for e in log if VERIFY_MARK in (e.get("prompt") or "")]
    check(len(write) == len(CHUNKS), f"{len(write)} question-writing requests for {len(CHUNKS)} chunks")
    check(len(write) + len(verify) == len(log), "a request matched neither prompt")
    for e in write:
        check("Write 6 multiple-choice questions" in e["prompt"], "the prompt does not ask for questions_per_chunk")
        schema = e["body"]["response_format"]["json_schema"]["schema"]
        item = schema["properties"]["questions"]["items"]
        check(item["required"] == ["question", "choices", "answer"], f"schema: {schema}")

    # The verifier: one request per well-formed question, lettered options, never the key.
    well_formed = [q for _, _, qs in CHUNKS for q, _, _, v in qs if v is not None]
    check(len(verify) == len(well_formed), f"{len(verify)} verify requests, want {len(well_formed)}")
    choices_of = {q: c for _, _, qs in CHUNKS for q, c, _, _ in qs}
    for e in verify:
        p = e["prompt"]
        q = re.search(r"\nQuestion: (.*)\n", p).group(1)
        for letter, choice in zip("ABCD", choices_of[q]):
            check(f"\n{letter}. {choice}\n" in p + "\n", f"option {letter} of {q!r} missing from the verify prompt")
        check('"answer"' not in p and "correct answer is" not in p.lower(), f"the key leaks to the verifier: {p}")
        check(e["body"].get("temperature") == 0, f"the verifier does not decode greedily: {e['body']}")
        check("json_schema" in json.dumps(e["body"].get("response_format", {})), "the verifier gets no schema")

    passages = {}
    for e in write:
        passage = passage_of(e["prompt"])
        owner = [c for c in CHUNKS if c[0] in passage]
        check(len(owner) == 1, f"passage holds {len(owner)} scripted phrases")
        passages[owner[0][0]] = passage
    origin = {q: (phrase, heading, c, a) for phrase, heading, qs in CHUNKS for q, c, a, _ in qs}

    # 1. Kept rows.
    check([r["question"] for r in res.rows] == KEPT, f"kept {[r['question'] for r in res.rows]}, want {KEPT}")
    for r in res.rows:
        check(list(r) == ["id", "question", "choices", "answer", "chunk", "source", "heading", "chunk_index",
                          "question_index"], f"columns {list(r)}")
        phrase, heading, choices, answer = origin[r["question"]]
        check(r["choices"] == choices and r["answer"] == answer and isinstance(r["answer"], int),
              f"{r['question']!r}: choices {r['choices']} answer {r['answer']!r}")
        check(r["chunk"] == passages[phrase] and r["chunk"] in DOC, f"{r['question']!r}: wrong chunk {r['chunk']!r}")
        check(r["heading"] == heading and r["source"].endswith("/tides.md"), f"{r['question']!r}: {r}")
        check(r["id"] == f"tides.md#{r['chunk_index']}.{r['question_index']}", f"id {r['id']!r}")
    check(len({r["id"] for r in res.rows}) == len(res.rows), "ids are not unique")

    # 2. Rejects, each by its block, with its reason.
    check(len(res.rejects) == len(REJECTED), f"{len(res.rejects)} rejects: {[r.get('question') for r in res.rejects]}")
    for r in res.rejects:
        block, why = REJECTED[r["question"]]
        check(r["_rejected_by"] == block, f"{r['question']!r} rejected by {r['_rejected_by']}, want {block}")
        check(why in r["_reason"], f"{r['question']!r}: reason {r['_reason']!r} lacks {why!r}")
        check(r["chunk"] == passages[origin[r["question"]][0]], f"{r['question']!r}: the reject lost its chunk")

    total = sum(len(qs) for _, _, qs in CHUNKS)
    check(len(res.rows) + len(res.rejects) == total, "questions != rows + rejects")
    print(f"1. fixture: {len(CHUNKS)} chunks, {total} questions -> {len(res.rows)} rows, {len(res.rejects)} rejects")


def smoke_run(exe, work):
    t0 = time.time()
    sets = {"backend": "llama", "model": harness.tiny_model(exe, work), "concurrency": 4, "max_tokens": 160,
            "verify_max_tokens": 64, "questions_per_chunk": 1, "chunk_words": 40, "overlap_words": 5}
    res = harness.run_flow(exe, "mmlu_eval", work, "tiny", inputs=[work / "tides.md"], sets=sets,
                           extra=["--text-unit", "document"])
    blocks = res.metadata.get("blocks", [])
    check(blocks and blocks[0]["rows_in"] == 1, f"metadata blocks: {blocks}")
    for b in blocks:
        if b["type"] not in ("chunk", "explode"):
            check(b["rows_in"] == b["rows_out"] + b["rows_rejected"], f"block {b['name']} loses rows: {b}")
    for prev, nxt in zip(blocks, blocks[1:]):
        check(prev["rows_out"] == nxt["rows_in"], f"{prev['name']} -> {nxt['name']}: {prev} {nxt}")
    check(len(res.rows) == blocks[-1]["rows_out"], "output rows != the last block's output")
    check(len(res.rejects) == sum(b["rows_rejected"] for b in blocks), "rejects file != rejected counts")
    check(all(r.get("_rejected_by") and r.get("_reason") for r in res.rejects), "a reject without a reason")
    for r in res.rows:
        c = r["choices"]
        check(isinstance(c, list) and len(c) == 4 and len({x.strip().lower() for x in c}) == 4 and
              all(x.strip() for x in c), f"a kept row with bad choices: {c!r}")
        check(isinstance(r["answer"], int) and 0 <= r["answer"] <= 3, f"a kept row with answer {r['answer']!r}")
    chunks = next(b for b in blocks if b["name"] == "chunks")["rows_out"]
    print(f"2. tiny model in process: {chunks} chunks -> {len(res.rows)} rows, {len(res.rejects)} rejects "
          f"in {time.time() - t0:.1f} s")

    # Noise seldom writes a usable question, so the second half of the flow (from `question` on:
    # structure checks and the verifier) also runs on its own, on the scripted questions.
    text = (harness.FLOWS / "mmlu_eval.yaml").read_text()
    head, _, blocks_text = text.partition("\nblocks:\n")
    half = work / "verify_half.yaml"
    half.write_text(head.replace("  schema: text", "  schema: any") + "\nblocks:\n" +
                    blocks_text[blocks_text.index("  - name: question\n"):])
    shutil.copytree(harness.FLOWS / "prompts", work / "prompts", dirs_exist_ok=True)
    items = [{"item": {"question": q, "choices": c, "answer": a}, "chunk": phrase, "source": "tides.md",
              "heading": h, "chunk_index": i, "question_index": j}
             for i, (phrase, h, qs) in enumerate(CHUNKS) for j, (q, c, a, _) in enumerate(qs)]
    inp = harness.write_jsonl(work / "questions.jsonl", items)
    res = harness.run_flow(exe, half, work, "tiny-verify", inputs=[inp], sets=sets)
    check(len(res.rows) + len(res.rejects) == len(items), f"{len(res.rows)} + {len(res.rejects)} != {len(items)}")
    malformed = {r["item"]["question"] for r in res.rejected_by("well_formed")}
    check(malformed == {q for q, (b, _) in REJECTED.items() if b == "well_formed"}, f"malformed: {malformed}")
    verify = res.block("verify")
    check(verify is not None and verify["rows_in"] == len(items) - len(malformed), f"verify block: {verify}")
    for r in res.rejected_by("verified"):
        check(r["disagreement"].startswith(("the verifier chose ", "the verifier found it ambiguous")),
              f"disagreement {r['disagreement']!r}")
    check(all(r.get("_rejected_by") and r.get("_reason") for r in res.rejects), "a reject without a reason")
    print(f"3. tiny model, verifier half: {len(items)} questions -> {len(res.rows)} kept, {len(res.rejects)} rejected")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--llama-server", required=False)
    a = ap.parse_args()
    work = harness.workdir("mmlu_eval")
    fixture_run(a.synthforge, work)
    smoke_run(a.synthforge, work)
    print("mmlu_eval: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
