#!/usr/bin/env python3
"""flows/knowledge.yaml end to end (ctest label `methods`).

1. The fixture server, scripted per chunk: two markdown documents and an empty one, read
   with --text-unit document. Each chunk's prompt gets its own question-answer pairs; the
   judge finds one answer unfaithful. Checks: every pair's context is exactly the chunk its
   question was generated from, with that chunk's heading path and file; the unfaithful pair,
   a repeated question and an empty answer are rejected by the right blocks with their
   reasons; the empty document is rejected by `chunks`; rows + rejects account for everything.
2. llama-server with the tiny random model: the flow finishes and every chunk and pair is
   either a row or a rejected row with a reason. The model's text is noise, so nothing is
   checked about its content.
3. The same server runs the judge half of the flow alone on fixed pairs (noise seldom gets that
   far in 2): every pair is kept or rejected with a reason.
"""
import argparse
import json
import re
import shutil
import sys
import time

import harness
from harness import check

TIDES = """# Tides

Tides are the regular rise and fall of the sea surface, caused mostly by the pull of the Moon.

## Spring and neap tides

When the Sun and the Moon line up, at new moon and full moon, their pulls add together and the tides are larger than usual. These are spring tides.

When the Sun and the Moon are at right angles, their pulls partly cancel and the tidal range is smallest. These are neap tides.

## Tide tables

Harbour authorities publish tide tables listing the times and heights of high and low water for each day.
"""

BEES = """Honey bees
==========

## Colony

A colony has one queen, thousands of female workers and, in summer, a few hundred male drones.

## Waggle dance

A forager that finds food returns to the hive and performs a waggle dance. The angle of the dance tells the other bees the direction of the food relative to the Sun, and its length tells the distance.
"""

# Per chunk: a phrase only that chunk holds, the heading path and file it must keep, and the
# pairs the scripted model writes for it. chunk_words=40 splits "Spring and neap tides" (53
# words) at its paragraph break, so that section yields two chunks under one heading.
CHUNKS = [
    ("regular rise and fall", "Tides", "tides.md", [
        ("What are tides?", "Tides are the regular rise and fall of the sea surface."),
        ("What mostly causes tides?", "Tides are caused mostly by the pull of the Moon."),
    ]),
    ("These are spring tides", "Tides > Spring and neap tides", "tides.md", [
        ("What are spring tides?", "Spring tides are the larger tides that occur when the Sun and the Moon line up."),
        ("What mostly causes tides?", "The pull of the Moon."),  # asked already: unique_question rejects it
    ]),
    ("These are neap tides", "Tides > Spring and neap tides", "tides.md", [
        ("What are neap tides?", "Neap tides are the tides with the smallest range, when the Sun and Moon are at right angles."),
    ]),
    ("Harbour authorities publish", "Tides > Tide tables", "tides.md", [
        ("What do tide tables list?", "Tide tables list the times and heights of high and low water for each day."),
        ("How often does the navy print tide tables?", "The navy prints new tide tables every January."),  # unfaithful
    ]),
    ("one queen", "Honey bees > Colony", "bees.md", [
        ("Who lives in a honey bee colony?", "One queen, thousands of female workers and, in summer, a few hundred male drones."),
        ("How many queens does a colony have?", "   "),  # empty once trimmed: complete_pair rejects it
    ]),
    ("waggle dance", "Honey bees > Waggle dance", "bees.md", [
        ("What does the waggle dance tell other bees?", "Its angle gives the direction of the food relative to the Sun and its length gives the distance."),
    ]),
]

UNFAITHFUL = "How often does the navy print tide tables?"
UNFAITHFUL_REASON = "The passage names harbour authorities, not the navy, and says nothing about how often tables are printed."
GENERATE_MARK = "questions that a reader of this passage could ask"
JUDGE_MARK = "Is the answer faithful to the passage?"


def faithful_reason(question):
    return f"Every claim in the answer to '{question}' is stated in the passage."


def script():
    rules = []
    for _, _, _, pairs in CHUNKS:
        for q, _ in pairs:
            verdict = ({"reason": UNFAITHFUL_REASON, "faithful": False} if q == UNFAITHFUL
                       else {"reason": faithful_reason(q), "faithful": True})
            rules.append({"match": rf"(?s)^(?=.*{re.escape(JUDGE_MARK)})(?=.*\nQuestion: {re.escape(q)}\n)",
                          "reply": json.dumps(verdict)})
    for phrase, _, _, pairs in CHUNKS:
        reply = json.dumps({"pairs": [{"question": q, "answer": a} for q, a in pairs]})
        rules.append({"match": rf"(?s)^(?=.*{re.escape(GENERATE_MARK)})(?=.*<passage>\n[^<]*{re.escape(phrase)})",
                      "reply": reply})
    return rules


def passage_of(prompt):
    m = re.search(r"<passage>\n(.*)\n</passage>", prompt, re.S)
    return m.group(1) if m else None


def block_counts(result, name):
    b = result.block(name)
    check(b is not None, f"no block {name} in metadata.json")
    return b["rows_in"], b["rows_out"], b["rows_rejected"]


def fixture_run(exe, work):
    tides = work / "tides.md"
    bees = work / "bees.md"
    empty = work / "empty.md"
    tides.write_text(TIDES)
    bees.write_text(BEES)
    empty.write_text("")
    with harness.Fixture(work, script=script()) as fx:
        res = harness.run_flow(exe, "knowledge", work, "fixture", inputs=[tides, bees, empty],
                               sets=harness.openai_sets(fx, chunk_words=40, overlap_words=0),
                               extra=["--text-unit", "document"])
        log = fx.requests()

    # The prompts the model saw: one per chunk, then one judge call per surviving pair.
    generate = [e for e in log if GENERATE_MARK in (e.get("prompt") or "")]
    judge = [e for e in log if JUDGE_MARK in (e.get("prompt") or "")]
    check(len(generate) == len(CHUNKS), f"{len(generate)} generation requests for {len(CHUNKS)} chunks")
    check(len(generate) + len(judge) == len(log), "a request matched neither prompt")
    all_pairs = [p for c in CHUNKS for p in c[3]]
    check(len(judge) == len(all_pairs) - 2,
          f"{len(judge)} judge requests: the repeated question and the empty answer must not be judged")
    # The pairs step asks for pairs_per_chunk (3) pairs and sends the schema of the answer.
    for e in generate:
        check("Write 3 questions" in e["prompt"], "the prompt does not ask for pairs_per_chunk pairs")
        check(re.search(r'the document "(tides|bees)\.md", section "[^"]+"', e["prompt"]) and str(work) not in e["prompt"],
              f"the prompt must name the file, not its directories, and the section: {e['prompt'][:120]!r}")
        schema = e["body"]["response_format"]["json_schema"]["schema"]
        check(schema["properties"]["pairs"]["items"]["required"] == ["question", "answer"], f"schema: {schema}")

    # Which chunk each question came from, as the model saw it.
    passage_by_phrase = {}
    for e in generate:
        passage = passage_of(e["prompt"])
        check(passage is not None, f"no passage in the prompt: {e['prompt'][:200]}")
        owners = [c for c in CHUNKS if c[0] in passage]
        check(len(owners) == 1, f"passage holds {len(owners)} scripted phrases: {passage!r}")
        passage_by_phrase[owners[0][0]] = passage
    docs = {"tides.md": TIDES, "bees.md": BEES}
    origin = {}
    for phrase, heading, file, pairs in CHUNKS:
        for q, a in pairs:
            origin.setdefault(q, (phrase, heading, file, a))

    # 1. Kept rows: grounded in their own chunk, with its heading and file.
    expected_kept = [q for q, a in all_pairs if q != UNFAITHFUL and a.strip()]
    expected_kept = list(dict.fromkeys(expected_kept))  # the repeated question once
    check([r["question"] for r in res.rows] == expected_kept,
          f"kept questions {[r['question'] for r in res.rows]}, want {expected_kept}")
    for r in res.rows:
        check(list(r) == ["question", "answer", "context", "heading", "source", "faithfulness"],
              f"columns {list(r)}")
        phrase, heading, file, answer = origin[r["question"]]
        check(r["answer"] == answer, f"answer {r['answer']!r} for {r['question']!r}")
        check(r["context"] == passage_by_phrase[phrase],
              f"{r['question']!r}: context is not the chunk it was generated from: {r['context']!r}")
        check(r["heading"] == heading, f"{r['question']!r}: heading {r['heading']!r}, want {heading!r}")
        check(r["source"].endswith("/" + file), f"{r['question']!r}: source {r['source']!r}")
        check(r["context"] in docs[file], f"context is not a slice of {file}: {r['context']!r}")
        check(r["faithfulness"] == faithful_reason(r["question"]), f"faithfulness {r['faithfulness']!r}")
    # The long section was cut in two chunks that share its heading and do not overlap.
    spring = {r["context"] for r in res.rows if r["heading"] == "Tides > Spring and neap tides"}
    check(len(spring) == 2 and not any(a in b for a in spring for b in spring if a != b), f"spring chunks {spring}")
    check(all("#" not in r["context"] and "===" not in r["context"] for r in res.rows), "a heading line leaked into a chunk")

    # 2. Rejects, each by its block with its reason.
    by = {}
    for r in res.rejects:
        by.setdefault(r["_rejected_by"], []).append(r)
    check(sorted(by) == ["chunks", "complete_pair", "faithful", "unique_question"], f"rejecting blocks {sorted(by)}")
    check(len(res.rejects) == 4, f"{len(res.rejects)} rejects: {res.rejects}")
    [doc] = by["chunks"]
    check(doc["_reason"] == "column 'text' is empty" and doc["source"].endswith("/empty.md"), f"empty document: {doc}")
    [unfaithful] = by["faithful"]
    check(unfaithful["question"] == UNFAITHFUL, f"faithful rejected {unfaithful['question']!r}")
    check(unfaithful["_reason"] == "faithful = false, not == true", f"reason {unfaithful['_reason']!r}")
    check(unfaithful["faithfulness"] == UNFAITHFUL_REASON, "the judge's reason is not kept in the reject")
    check(unfaithful["context"] == passage_by_phrase["Harbour authorities publish"], "unfaithful pair lost its chunk")
    [repeated] = by["unique_question"]
    check(repeated["question"] == "What mostly causes tides?" and
          repeated["context"] == passage_by_phrase["These are spring tides"], f"repeat: {repeated}")
    [empty_answer] = by["complete_pair"]
    check(empty_answer["question"] == "How many queens does a colony have?" and "answer" in empty_answer["_reason"],
          f"empty answer: {empty_answer}")

    # 3. Counts add up, block by block.
    check(block_counts(res, "chunks") == (3, len(CHUNKS), 1), f"chunks {block_counts(res, 'chunks')}")
    check(block_counts(res, "generate_pairs") == (len(CHUNKS), len(CHUNKS), 0), "generate_pairs counts")
    check(block_counts(res, "one_row_per_pair") == (len(CHUNKS), len(all_pairs), 0), "explode counts")
    check(block_counts(res, "judge_faithfulness") == (len(judge), len(judge), 0), "judge counts")
    check(block_counts(res, "faithful") == (len(judge), len(res.rows), 1), "faithful counts")
    check(len(all_pairs) == len(res.rows) + len(res.rejects) - 1, "pairs != rows + pair rejects")
    print(f"1. fixture: {len(CHUNKS)} chunks, {len(all_pairs)} pairs -> {len(res.rows)} rows, "
          f"{len(res.rejects)} rejects (1 document, 3 pairs)")


def smoke_run(exe, llama_server, work):
    server = harness.LlamaServer(exe, llama_server, work)
    try:
        t0 = time.time()
        sets = {"backend": "openai", "base_url": server.url, "model": "tiny",
                "concurrency": 4, "max_tokens": 96, "judge_max_tokens": 48, "chunk_words": 40,
                "overlap_words": 5, "pairs_per_chunk": 2}
        res = harness.run_flow(exe, "knowledge", work, "llama", inputs=[work / "tides.md", work / "bees.md"],
                               sets=sets, extra=["--text-unit", "document"])
        # Noise in, so only the bookkeeping is checked: each block's rows are its output or its rejects,
        # and every reject names its block and a reason.
        blocks = res.metadata.get("blocks", [])
        check(blocks and blocks[0]["rows_in"] == 2, f"metadata blocks: {blocks}")
        for b in blocks:
            if b["type"] not in ("chunk", "explode"):
                check(b["rows_in"] == b["rows_out"] + b["rows_rejected"], f"block {b['name']} loses rows: {b}")
        for prev, nxt in zip(blocks, blocks[1:]):
            check(prev["rows_out"] == nxt["rows_in"], f"{prev['name']} -> {nxt['name']}: {prev} {nxt}")
        check(len(res.rows) == blocks[-1]["rows_out"], "output rows != the last block's output")
        check(len(res.rejects) == sum(b["rows_rejected"] for b in blocks), "rejects file != rejected counts")
        check(all(r.get("_rejected_by") and r.get("_reason") for r in res.rejects), "a reject without a reason")
        chunks = next(b for b in blocks if b["name"] == "chunks")["rows_out"]
        check(chunks == len(CHUNKS), f"{chunks} chunks from the two documents, want {len(CHUNKS)}")
        print(f"2. llama-server (tiny random model): {chunks} chunks -> {len(res.rows)} rows, "
              f"{len(res.rejects)} rejects in {time.time() - t0:.1f} s")

        # Noise rarely survives as far as the judge, so its half of the flow also runs on its own,
        # on pairs written here: the flow file from `judge_faithfulness` on, with its prompts.
        text = (harness.FLOWS / "knowledge.yaml").read_text()
        head, _, blocks_text = text.partition("\nblocks:\n")
        judge_part = blocks_text[blocks_text.index("  - name: judge_faithfulness"):]
        half = work / "judge_half.yaml"
        half.write_text(head + "\nblocks:\n" + judge_part)
        shutil.copytree(harness.FLOWS / "prompts", work / "prompts", dirs_exist_ok=True)
        pairs = [{"text": "", "question": q, "answer": a, "context": phrase, "heading": h, "source": f}
                 for phrase, h, f, ps in CHUNKS for q, a in ps]
        inp = harness.write_jsonl(work / "pairs.jsonl", pairs)
        res = harness.run_flow(exe, half, work, "llama-judge", inputs=[inp], sets=sets)
        judged = res.block("judge_faithfulness")
        check(judged is not None and judged["rows_in"] == len(pairs), f"judge block: {judged}")
        check(len(res.rows) + len(res.rejects) == len(pairs), f"{len(res.rows)} + {len(res.rejects)} != {len(pairs)}")
        check(all(r.get("_rejected_by") and r.get("_reason") for r in res.rejects), "a judge reject without a reason")
        check(all(isinstance(r["faithfulness"], str) for r in res.rows), "faithfulness is not the judge's text")
        print(f"3. llama-server judge only: {len(pairs)} pairs -> {len(res.rows)} kept, {len(res.rejects)} rejected")
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--llama-server", required=True)
    a = ap.parse_args()
    work = harness.workdir("knowledge")
    fixture_run(a.synthforge, work)
    smoke_run(a.synthforge, a.llama_server, work)
    print("knowledge: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
