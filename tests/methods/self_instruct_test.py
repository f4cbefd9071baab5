#!/usr/bin/env python3
"""flows/self_instruct.yaml against the scripted fixture server.

The script answers the task-proposal prompt with numbered lists that mix good new tasks
with ones each Self-Instruct filter must catch (a near-copy of a seed, a picture task,
"Write a program", too short, punctuation and non-ASCII starts). Checks: the loop stops
at num_instructions with the surplus rejected, every rejection carries its filter's
reason, prompts show 8 pool tasks (6 seeds + 2 machine tasks once there are some),
classification tasks get label-first instances, and the last item of an answer cut at
max_tokens is dropped.
"""
import argparse
import re

from harness import Fixture, check, openai_sets, run_flow, workdir, write_jsonl

SEEDS = [
    ("Give three tips for staying healthy during the winter months.", "", "Sleep well, eat vegetables, exercise."),
    ("Classify the sentiment of the sentence as positive or negative.", "I loved the film.", "positive"),
    ("Summarize the paragraph in one sentence for a busy reader.", "The council met ...", "The council met."),
    ("Translate the following English phrase into Spanish.", "Good morning", "Buenos dias"),
    ("Suggest a name for a bakery that specializes in sourdough bread.", "", "Rise & Crumb"),
    ("Explain the difference between weather and climate to a child.", "", "Weather is today ..."),
    ("Write a haiku about the first snow of the year.", "", "White hush on the roofs ..."),
    ("List five common mistakes people make when learning to cook.", "", "1. Overcrowding the pan ..."),
    ("Rewrite the sentence in the passive voice.", "The cat chased the mouse.", "The mouse was chased."),
    ("Give an example of a metaphor and explain what it means.", "", "Time is a thief ..."),
]

GOOD = [
    "Describe how a bill becomes a law in a parliamentary democracy.",
    "Plan a three-day walking itinerary for a first visit to Lisbon.",
    "Explain why bread dough needs time to rise before baking.",
    "Compare the advantages of renting and buying a home for a young family.",
    "Classify the following animal as a mammal, bird, reptile or fish.",
    "Propose a weekly study schedule for a student preparing for exams.",
    "Write a short apology email for missing an important team meeting.",
    "Suggest four questions to ask at the end of a job interview.",
    "Explain the rules of chess castling in plain language for beginners.",
    "Invent a riddle whose answer is the word shadow and explain it.",
    "Estimate how many piano tuners work in a large city and show reasoning.",
    "Turn the list of ingredients into a step by step soup recipe.",
    "Argue for and against a four-day working week in two short paragraphs.",
    "Identify the logical fallacy in the argument and name it precisely.",
    "Decide whether the review is spam or not spam and give the label.",
    "Outline the main causes of the French Revolution for a history class.",
    "Describe the water cycle to a ten year old using an everyday analogy.",
    "Draft a polite reminder to a neighbour about returning a borrowed ladder.",
    "Recommend three board games for a family with young children and explain why.",
    "Explain what compound interest is with a small numeric example.",
]
BAD = {
    "novelty": "Give three tips for staying healthy during the winter.",
    "text_only": "Draw a picture of a cat sitting on a windowsill at night.",
    "no_program": "Write a program that sorts a list of numbers in Python.",
    "length": "Sort these.",
    "clean_start": "\"Quoted\" tasks should never start with a quotation mark.",
}
NON_ASCII = "Élaborez un plan de voyage de deux jours pour visiter Paris."


def proposal_replies():
    """Four answers of five good tasks each; the bad ones are spread over them."""
    bad = list(BAD.values()) + [NON_ASCII]
    replies = []
    for k in range(4):
        items = GOOD[5 * k:5 * k + 5] + bad[k::4]
        replies.append("\n".join(f"{9 + i}. {t}" for i, t in enumerate(items)))
    return replies


SCRIPT = [
    {"match": r"(?s)Is the task below a classification task\?.*Task: (Classify|Decide whether)",
     "reply": '{"is_classification": true}'},
    {"match": r"Is the task below a classification task\?", "reply": '{"is_classification": false}'},
    {"match": r"Write one example for the classification task below",
     "reply": '{"output": "mammal", "input": "A dolphin breathes air and feeds its young milk."}'},
    {"match": r"Write one example for the task below",
     "reply": '{"input": "", "output": "A complete, careful answer to the task."}'},
    {"match": r"We are collecting a varied set of tasks", "reply": proposal_replies()},
]


def numbered_tasks(prompt):
    return re.findall(r"^\d+\. (.*)$", re.split(r"\nWrite \d+ new tasks", prompt)[0], flags=re.M)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--llama-server")
    a = ap.parse_args()
    work = workdir("self-instruct")
    seeds = write_jsonl(work / "seeds.jsonl",
                        [{"instruction": i, "input": x, "output": o} for i, x, o in SEEDS])

    with Fixture(work, script=SCRIPT) as fx:
        r = run_flow(a.synthforge, "self_instruct", work, "run", [seeds],
                     openai_sets(fx, num_instructions=12, prompts_per_round=2, concurrency=2))
        # Stops at num_instructions; the rest of the last round is surplus.
        check(len(r.rows) == 12, f"{len(r.rows)} rows, want 12")
        loop = r.block("bootstrap")["loop"]
        check(loop["stopped_because"] == "reached 12 rows", f"loop: {loop}")
        surplus = r.rejected_by("bootstrap")
        check(surplus and all("surplus" in x["_reason"] for x in surplus), f"surplus rows: {surplus}")
        accepted = {row["instruction"] for row in r.rows}
        check(accepted <= set(GOOD), f"accepted a bad task: {accepted - set(GOOD)}")

        # Every filter rejected its planted task with its own reason.
        want = {"novelty": "ROUGE-L F1", "text_only": "cannot see or make", "no_program": "Write a program",
                "length": "too short", "clean_start": "starts with punctuation"}
        for block, words in want.items():
            hits = [x for x in r.rejected_by(block) if x["instruction"] == BAD[block]]
            check(hits and words in hits[0]["_reason"], f"{block}: {r.rejected_by(block)}")
        check(any("non-ASCII" in x["_reason"] for x in r.rejected_by("clean_start")
                  if x["instruction"] == NON_ASCII), "non-ASCII start not rejected")

        # Prompts: 8 pool tasks; round 1 only seeds, later rounds 2 machine tasks + 6 seeds.
        seed_tasks = {s[0] for s in SEEDS}
        proposals = [p for p in fx.prompts() if p.startswith("We are collecting")]
        check(len(proposals) == 2 * loop["rounds"], f"{len(proposals)} proposal prompts for {loop['rounds']} rounds")
        for k, p in enumerate(proposals):
            tasks = numbered_tasks(p)
            check(len(tasks) == 8 and len(set(tasks)) == 8, f"prompt {k} shows {tasks}")
            machine = [t for t in tasks if t not in seed_tasks]
            check(len(machine) == (0 if k < 2 else 2), f"prompt {k}: machine tasks {machine}")
            check(all(t in GOOD for t in machine), f"prompt {k} shows a task that was not accepted")

        # Instances: classification label first, the others input/output.
        for row in r.rows:
            check(row["output"], f"no output: {row}")
            if row["instruction"].startswith(("Classify", "Decide whether")):
                check(row["is_classification"] is True and row["output"] == "mammal", f"{row}")
            else:
                check(row["is_classification"] is False, f"{row}")
        check(len(r.rows) + len(r.rejects) > 12, "rejects missing")

        # A re-run with the same seed gives the same rows.
        again = run_flow(a.synthforge, "self_instruct", work, "again", [seeds],
                         openai_sets(fx, num_instructions=12, prompts_per_round=2, concurrency=2))
        check(len(again.rows) == 12, "re-run row count")

    # An answer cut at max_tokens loses its unfinished last item.
    cut = [{"match": r"We are collecting", "reply":
            "9. Explain why the sky looks blue during the day but red at sunset.\n"
            "10. List three ways to reduce food waste at home and explain each one of them in plain words."},
           {"match": r"classification task\?", "reply": '{"is_classification": false}'},
           {"match": r"Write one example", "reply": '{"input": "", "output": "ok"}'}]
    with Fixture(work, script=cut) as fx:
        r = run_flow(a.synthforge, "self_instruct", work, "cut", [seeds],
                     openai_sets(fx, num_instructions=1, prompts_per_round=1, max_tokens=20))
        got = [row["instruction"] for row in r.rows]
        check(got == ["Explain why the sky looks blue during the day but red at sunset."], f"cut: {got}")
    print("self_instruct: ok")


if __name__ == "__main__":
    main()
