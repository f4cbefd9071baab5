#!/usr/bin/env python3
"""flows/controlled.yaml against the scripted fixture server (ctest label `methods`).

1. Topics from a file, keywords from the params (one record brings its own): the prompt carries
   every constraint; a text using every keyword (in another case, with punctuation) is kept; a
   text without one keyword is rejected by `uses_keywords` with a reason naming it; a too-short
   and a too-long text are rejected by `length` with their limits; a record without a topic is
   rejected by `has_topic`.
2. No -i: `count` records on the `topic` param, every constraint param in the prompt and in the
   `constraints` column; `language_codes` keeps English texts for [en] and rejects them for [de].
"""
import argparse
import sys

import harness
from harness import check

FLOW = harness.FLOWS / "controlled.yaml"

SENTENCE = "The water climbs the sand slowly and then slips back again toward the sea. "


def words(n):
    """A text of exactly n words made of plain English sentences."""
    out = (SENTENCE * (n // 14 + 1)).split()[:n]
    return " ".join(out) + "."


GOOD_TIDES = ("The Moon's pull lifts the oceans twice a day. High tide, then low tide: the rhythm never stops.\n\n"
              + words(100))
NO_MOON = "Harbours fill at high tide and empty again. " + words(100)
SHORT = "Volcanoes at high tide near the moon are rare. " + words(10)
LONG = "Deserts see no high tide, though the moon shines there too. " + words(300)
SAVING = "Budgets help. A piggy bank, too! " + words(100)
KITES = "Kites need wind and patience. " + words(100)

RECORDS = [
    {"id": 1, "topic": "tides at the beach"},
    {"id": 2, "topic": "tides in harbours"},
    {"id": 3, "topic": "volcanoes"},
    {"id": 4, "topic": "deserts"},
    {"id": 5, "topic": "saving money", "keywords": "budget, piggy bank"},
    {"id": 6, "topic": ""},
    {"id": 7, "topic": "kites", "keywords": []},
]

SCRIPT = [
    {"match": r"about tides at the beach\.", "reply": GOOD_TIDES},
    {"match": r"about tides in harbours\.", "reply": NO_MOON},
    {"match": r"about volcanoes\.", "reply": SHORT},
    {"match": r"about deserts\.", "reply": LONG},
    {"match": r"about saving money\.", "reply": SAVING},
    {"match": r"about kites\.", "reply": KITES},
    {"match": r"about the history of bicycles, in the field of transport history\.",
     "reply": "Early bicycles had a huge front wheel and a tiny back wheel. Riders sat high above the road. "
              "Later designs used two wheels of the same size and a chain, which made cycling safer. "
              "Today people ride bicycles to school, to work and for fun in every season of the year."},
]


def file_run(exe, work):
    inp = harness.write_jsonl(work / "topics.jsonl", RECORDS)
    with harness.Fixture(work, script=SCRIPT) as fx:
        res = harness.run_flow(exe, FLOW, work, "topics", inputs=[inp],
                               sets=harness.openai_sets(fx, keywords="[Moon, high tide]"))
        log = fx.requests()

    check(len(log) == 6, f"{len(log)} requests (the record without a topic must not be sent)")
    for e in log:
        p = e["prompt"]
        for part in ("Write a short article about ", "Audience: general readers.",
                     "Style: clear and concrete, with short paragraphs.", "Tone: friendly.",
                     "write the whole text in English.", "between 100 and 250 words."):
            check(part in p, f"prompt lacks {part!r}: {p!r}")
        check("in the field of" not in p, "an empty domain must add nothing")
        if "saving money" in p:
            check("spelled as given: budget, piggy bank." in p, f"record keywords not in the prompt: {p!r}")
        elif "kites" in p:
            check("Keywords:" not in p, f"an empty keyword list must add nothing: {p!r}")
        else:
            check("spelled as given: Moon, high tide." in p, f"keywords not in the prompt: {p!r}")

    kept = {r["id"]: r for r in res.rows}
    check(sorted(kept) == [1, 5, 7], f"kept {sorted(kept)}; rejects {[(x['id'], x['_reason']) for x in res.rejects]}")
    check(kept[1]["text"] == GOOD_TIDES and kept[1]["keywords"] == ["Moon", "high tide"], f"row 1 {kept[1]}")
    check(kept[5]["keywords"] == ["budget", "piggy bank"], f"record keywords {kept[5]['keywords']}")
    check(kept[7]["keywords"] == [], f"record keywords {kept[7]['keywords']}")
    for r in res.rows:
        check(list(r) == ["id", "topic", "keywords", "constraints", "text", "word_count"], f"columns {list(r)}")
        check(r["word_count"] == len(r["text"].split()), f"word_count {r['word_count']}")
        check(r["constraints"] == {"domain": "", "text_type": "a short article",
                                   "style": "clear and concrete, with short paragraphs", "tone": "friendly",
                                   "audience": "general readers", "language": "English",
                                   "min_words": 100, "max_words": 250}, f"constraints {r['constraints']}")

    rej = {x["id"]: x for x in res.rejects}
    check(sorted(rej) == [2, 3, 4, 6], f"rejected {sorted(rej)}")
    check(rej[2]["_rejected_by"] == "uses_keywords" and rej[2]["missing_keywords"] == ["Moon"]
          and rej[2]["_reason"].startswith("does not use every keyword") and '"Moon"' in rej[2]["_reason"]
          and "high tide" not in rej[2]["_reason"], f"missing keyword {rej[2]['_reason']!r}")
    check(rej[3]["_rejected_by"] == "length"
          and rej[3]["_reason"] == f"shorter than 100 words (word_count = {len(SHORT.split())}, not >= 100)",
          f"short {rej[3]['_reason']!r}")
    check(rej[4]["_rejected_by"] == "length"
          and rej[4]["_reason"] == f"longer than 250 words (word_count = {len(LONG.split())}, not <= 250)",
          f"long {rej[4]['_reason']!r}")
    check(rej[6]["_rejected_by"] == "has_topic" and rej[6]["_reason"].startswith("no topic"), f"{rej[6]}")
    print(f"1. topics file: {len(RECORDS)} records -> {len(res.rows)} rows, rejected "
          + ", ".join(f"{x['id']} by {x['_rejected_by']}" for x in res.rejects))


def param_run(exe, work):
    sets = {"count": 3, "topic": "the history of bicycles", "domain": "transport history",
            "text_type": "a blog post", "style": "lively", "tone": "enthusiastic", "audience": "teenagers",
            "language": "English", "min_words": 40, "max_words": 80, "keywords": "[wheel, Chain]",
            "language_codes": "[en]"}
    with harness.Fixture(work, script=SCRIPT) as fx:
        res = harness.run_flow(exe, FLOW, work, "params", sets=harness.openai_sets(fx, **sets))
        prompts = fx.prompts()
        german = harness.run_flow(exe, FLOW, work, "german",
                                  sets=harness.openai_sets(fx, **dict(sets, language_codes="[de]")))
    check(len(prompts) == 3, f"{len(prompts)} requests for count=3")
    for p in prompts:
        for part in ("Write a blog post about the history of bicycles, in the field of transport history.",
                     "Audience: teenagers.", "Style: lively.", "Tone: enthusiastic.",
                     "write the whole text in English.", "between 40 and 80 words.",
                     "spelled as given: wheel, Chain."):
            check(part in p, f"prompt lacks {part!r}: {p!r}")
    check(len(res.rows) == 3, f"{len(res.rows)} rows; rejects {[x['_reason'] for x in res.rejects]}")
    for r in res.rows:
        check(r["topic"] == "the history of bicycles" and r["keywords"] == ["wheel", "Chain"], f"{r}")
        check(r["constraints"]["domain"] == "transport history" and r["constraints"]["min_words"] == 40, f"{r}")
    check(not german.rows and len(german.rejects) == 3
          and all(x["_rejected_by"] == "language" for x in german.rejects), f"[de]: {german.rejects[:1]}")
    print(f"2. params: count=3 -> {len(res.rows)} rows; language_codes=[de] -> {len(german.rejects)} rejects "
          f"({german.rejects[0]['_reason']})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--llama-server")
    a = ap.parse_args()
    work = harness.workdir("controlled")
    file_run(a.synthforge, work)
    param_run(a.synthforge, work)
    print("controlled: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
