#!/usr/bin/env python3
"""flows/stories.yaml end to end (ctest label `methods`).

1. The fixture server. Its script echoes the words of each prompt into the story
   (reply_template), except for two extra conditions of a test features file: one answer
   leaves out the third word, one is far too long. Checks: num_stories records, one request
   each, every request carries the example conversation as user/assistant turns before the
   prompt; rows have exactly the seed's fields, in order and with their types; the words of a
   story are distinct vocabulary words and appear in it; word_count is right; the too-long
   and the missing-word stories are rejected by their blocks with reasons naming the limit and
   the missing word; the same --seed draws the same words and conditions, another seed others.
2. llama-server with the tiny random model: every story ends as a row or a rejected record
   with a reason. Its text is noise, so nothing else is checked.
"""
import argparse
import json
import re
import sys
import time

import harness
from harness import check

FLOW = harness.FLOWS / "stories.yaml"
DATA = harness.FLOWS / "data" / "stories"
VOCABULARY = [l.strip() for l in (DATA / "vocabulary.txt").read_text().splitlines()
              if l.strip() and not l.startswith("#")]
SHIPPED_FEATURES = [l.strip() for l in (DATA / "features.txt").read_text().splitlines()
                    if l.strip() and not l.startswith("#")]
EXAMPLES = json.loads((DATA / "example_conversation.json").read_text())["messages"]

GOOD = ["Two friends share their toys and smile.", "Everyone is sleepy at the end."]
MISSING = "The story forgets one of its words."
LONG = "The story goes on and on."
FEATURES = GOOD + [MISSING, LONG]

FIELDS = ["story_id", "prompt_id", "content", "word_count", "generation_time", "tokens_generated",
          "tokens_per_second", "metadata"]

SCRIPT = [
    # The third word is left out.
    {"match": r"(?s)these words: (\w+), (\w+), (\w+)\.\n\n" + re.escape(MISSING),
     "reply_template": "Once upon a time a \\1 and a \\2 lay down in the soft grass. They looked at the "
                       "stars and fell asleep. Good night."},
    # All the words, but 170 words in all.
    {"match": r"(?s)these words: ([\w, ]+)\.\n\n" + re.escape(LONG),
     "reply_template": "This is a story about \\1. " + "And then they walked a little more. " * 24 + "The end."},
    {"match": r"(?s)these words: ([\w, ]+)\.\n\n",
     "reply_template": "Once upon a time there was a little story about \\1. Everyone was happy, and then "
                       "they all went to sleep. Good night."},
]


def plain(text):
    """The flow's word check, in Python: lowercase, punctuation to spaces, a word starts after a space."""
    t = " " + text.lower()
    for c in "\n\t.,!?;:\"'()“”‘’-":
        t = t.replace(c, " ")
    return t


def missing(words, text):
    return [w for w in words if " " + w.lower() not in plain(text)]


def draws(rows_and_rejects):
    """story_id -> (words, condition), from output rows and rejected records alike."""
    out = {}
    for r in rows_and_rejects:
        if "metadata" in r and "_rejected_by" not in r:
            m = r["metadata"]
            out[r["story_id"]] = (list(m["selected_words"].values()), m["additional_condition"])
        else:
            out[r["story_id"]] = (r["words"], r["additional_condition"])
    return out


def fixture_run(exe, work):
    features = work / "features.txt"
    features.write_text("# test conditions\n" + "\n".join(FEATURES) + "\n")
    n = 16
    with harness.Fixture(work, script=SCRIPT) as fx:
        sets = harness.openai_sets(fx, num_stories=n, features_file=features, concurrency=4)
        res = harness.run_flow(exe, FLOW, work, "fixture", sets=sets, extra=["--seed", "7"])
        log = fx.requests()

        # One request per story; k-shot turns first, then the prompt.
        check(len(log) == n, f"{len(log)} requests for {n} stories")
        for e in log:
            msgs = e["body"]["messages"]
            check([m["role"] for m in msgs] == ["user", "assistant"] * len(EXAMPLES[::2]) + ["user"],
                  f"roles {[m['role'] for m in msgs]}")
            check([{"role": m["role"], "content": m["content"]} for m in msgs[:-1]] == EXAMPLES,
                  "the k-shot turns are not the example conversation")
            prompt = msgs[-1]["content"]
            check("at most 150 words" in prompt and "3-year-old" in prompt, f"prompt {prompt!r}")

        # Every story is a row or a reject.
        check(len(res.rows) + len(res.rejects) == n, f"{len(res.rows)} rows + {len(res.rejects)} rejects != {n}")
        ids = sorted([r["story_id"] for r in res.rows] + [r["story_id"] for r in res.rejects])
        check(ids == [f"story_{i:06d}" for i in range(1, n + 1)], f"story ids {ids}")

        for r in res.rows:
            check(list(r) == FIELDS, f"fields {list(r)}")
            num = r["story_id"][len("story_"):]
            check(re.fullmatch(r"\d{6}", num) and r["prompt_id"] == "prompt_" + num, f"ids {r}")
            check(isinstance(r["content"], str) and r["content"], f"content {r}")
            check(type(r["word_count"]) is int and r["word_count"] == len(r["content"].split()),
                  f"word_count {r['word_count']} for {len(r['content'].split())} words")
            check(r["word_count"] <= 150, f"too long but kept: {r['word_count']}")
            check(isinstance(r["generation_time"], (int, float)) and r["generation_time"] >= 0, f"time {r}")
            check(type(r["tokens_generated"]) is int and r["tokens_generated"] == r["word_count"],
                  f"tokens_generated {r['tokens_generated']} (the fixture counts words)")
            tps = r["tokens_per_second"]
            check(tps is None or (isinstance(tps, (int, float)) and tps > 0), f"tokens_per_second {tps}")
            m = r["metadata"]
            check(list(m) == ["selected_words", "additional_condition", "k_shot_count"], f"metadata {m}")
            check(list(m["selected_words"]) == ["word1", "word2", "word3"], f"selected_words {m}")
            words = list(m["selected_words"].values())
            check(len(set(words)) == 3 and all(w in VOCABULARY for w in words), f"words {words}")
            check(not missing(words, r["content"]), f"kept a story without {missing(words, r['content'])}")
            # (A story of the MISSING rule is kept only when its third word begins a word it has.)
            check(m["additional_condition"] in GOOD or m["additional_condition"] == MISSING,
                  f"condition {m['additional_condition']!r} kept")
            check(m["k_shot_count"] == 2, f"k_shot_count {m['k_shot_count']}")
            # The prompt asked for exactly these words and this condition.
            asked = [e["prompt"] for e in log if f"these words: {', '.join(words)}.\n\n{m['additional_condition']}" in e["prompt"]]
            check(asked, f"no prompt asked for {words}")

        long = res.rejected_by("length")
        check(long, "no story rejected as too long")
        for x in long:
            check(x["additional_condition"] == LONG, f"length rejected {x}")
            check(x["_reason"] == f"longer than 150 words (word_count = {x['word_count']}, not <= 150)",
                  f"length reason {x['_reason']!r}")
        lost = res.rejected_by("uses_words")
        check(lost, "no story rejected for a missing word")
        for x in lost:
            check(x["additional_condition"] == MISSING, f"uses_words rejected {x}")
            gone = missing(x["words"], x["content"])
            check(gone and x["missing_words"] == gone and x["words"][2] in gone, f"missing {x['missing_words']} / {gone}")
            check(x["_reason"].startswith("does not use every chosen word") and all(f'"{w}"' in x["_reason"] for w in gone),
                  f"uses_words reason {x['_reason']!r}")
        for r in res.rows:
            check(r["metadata"]["additional_condition"] != LONG, "a too-long story was kept")
        check(len(res.rejects) == len(long) + len(lost), f"unexpected rejects {[x['_rejected_by'] for x in res.rejects]}")
        print(f"1. fixture: {n} stories -> {len(res.rows)} rows, {len(long)} too long, {len(lost)} missing a word")

        # Same --seed: the same words and conditions for every story; another seed: others.
        again = harness.run_flow(exe, FLOW, work, "again", sets=sets, extra=["--seed", "7"])
        check(draws(again.rows + again.rejects) == draws(res.rows + res.rejects), "--seed 7 twice drew differently")
        other = harness.run_flow(exe, FLOW, work, "other", sets=sets, extra=["--seed", "8"])
        check(draws(other.rows + other.rejects) != draws(res.rows + res.rejects), "--seed 8 drew as --seed 7")

        # The shipped files and other parameters: 4 words, a smaller limit.
        more = harness.run_flow(exe, FLOW, work, "shipped",
                                sets=harness.openai_sets(fx, num_stories=5, words_per_story=4, max_words=40))
        check(len(more.rows) == 5, f"shipped: {len(more.rows)} rows, rejects {more.rejects[:2]}")
        for r in more.rows:
            words = list(r["metadata"]["selected_words"].values())
            check(list(r["metadata"]["selected_words"]) == ["word1", "word2", "word3", "word4"], f"{r['metadata']}")
            check(len(set(words)) == 4 and all(w in VOCABULARY for w in words), f"words {words}")
            check(r["metadata"]["additional_condition"] in SHIPPED_FEATURES, f"{r['metadata']}")
        check(any("at most 40 words" in p for p in fx.prompts()), "max_words not in the prompt")

        # k_shot=1: only the first example conversation turn pair goes before the prompt.
        before = len(fx.requests())
        one = harness.run_flow(exe, FLOW, work, "one-shot", sets=harness.openai_sets(fx, num_stories=2, k_shot=1))
        for e in fx.requests()[before:]:
            msgs = e["body"]["messages"]
            check([{"role": m["role"], "content": m["content"]} for m in msgs[:-1]] == EXAMPLES[:2],
                  f"k_shot=1 sent {len(msgs) - 1} example turns")
        check(all(r["metadata"]["k_shot_count"] == 1 for r in one.rows), "k_shot_count is not 1")
    check(len(VOCABULARY) >= 140 and len(set(VOCABULARY)) == len(VOCABULARY), "vocabulary size or duplicates")
    check(len(SHIPPED_FEATURES) >= 20, "features")


def smoke_run(exe, llama_server, work):
    server = harness.LlamaServer(exe, llama_server, work)
    try:
        t0 = time.time()
        n = 8
        res = harness.run_flow(exe, FLOW, work, "llama",
                               sets={"backend": "openai", "base_url": server.url, "model": "tiny",
                                     "num_stories": n, "concurrency": 4, "max_tokens": 12},
                               extra=["--set", "sampling.stop=[e]"])
        ids = sorted([r["story_id"] for r in res.rows] + [r["story_id"] for r in res.rejects])
        check(ids == [f"story_{i:06d}" for i in range(1, n + 1)], f"stories unaccounted for: {ids}")
        check(all(r["_rejected_by"] in ("write", "complete", "length", "uses_words") and r["_reason"]
                  for r in res.rejects), f"a reject without its reason: {res.rejects[:3]}")
        check(all(list(r) == FIELDS for r in res.rows), "row fields")
        print(f"2. llama-server (tiny random model): {n} stories -> {len(res.rows)} rows, "
              f"{len(res.rejects)} rejects in {time.time() - t0:.1f} s")
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--llama-server", required=True)
    a = ap.parse_args()
    work = harness.workdir("stories")
    fixture_run(a.synthforge, work)
    smoke_run(a.synthforge, a.llama_server, work)
    print("stories: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
