"""The Python module against the engine it wraps: flows run in-process give what the CLI's
golden files say, datasets round-trip through pandas and files, and the text functions
agree with independent Python computations of the same definitions.

Run through ctest (label `python`), which sets PYTHONPATH to <build>/python and
SYNTHFORGE_CLI to the built command; or by hand:
  PYTHONPATH=build/python SYNTHFORGE_CLI=build/bin/synthforge python3 -m pytest python/tests
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import synthforge

SOURCE_DIR = Path(__file__).resolve().parents[2]
CASES = SOURCE_DIR / "tests" / "e2e" / "cases"
CLI = os.environ.get("SYNTHFORGE_CLI", "synthforge")


@pytest.fixture
def workdir(tmp_path):
    # pytest's tmp_path is already per test and per process (ctest runs tests in parallel).
    return tmp_path


def words(text):
    # rouge_score's tokenizer for ASCII text: lowercase, runs of [a-z0-9].
    return re.findall(r"[a-z0-9]+", text.lower())


# ---------------------------------------------------------------------------- version


def test_version_is_the_projects_and_the_clis():
    cmake = (SOURCE_DIR / "CMakeLists.txt").read_text()
    declared = re.search(r"project\(synthforge VERSION ([0-9.]+)", cmake).group(1)
    assert synthforge.__version__ == declared
    cli = subprocess.run([CLI, "--version"], capture_output=True, text=True, check=True)
    assert cli.stdout.strip() == f"synthforge {declared}"


# ---------------------------------------------------------------------------- run_flow


def test_run_flow_curation_matches_the_cli_golden_files(workdir):
    case = CASES / "filter_dedup_set"
    result = synthforge.run(case / "flow.yaml", case / "input.jsonl", params={"min_words": 2},
                            run_dir=workdir / "run")
    assert result.rows == synthforge.read_records(case / "expected" / "output.jsonl")
    expected_rejects = synthforge.read_records(case / "expected" / "rejects.jsonl")
    # The CLI's golden rejects name the input file relative to where it ran; compare the rest.
    strip = lambda rows: [{k: v for k, v in r.items() if k != "_source"} for r in rows]
    assert strip(result.rejected) == strip(expected_rejects)
    assert all(r["_rejected_by"] and r["_reason"] for r in result.rejected)
    s = result.summary
    assert s["rows_in"] == s["rows_out"] + s["rows_rejected"]
    assert [b["name"] for b in s["blocks"]] == ["length", "unique", "prompt"]
    assert Path(s["output"]).parent == workdir / "run"


def test_run_flow_takes_rows_and_dataframes_like_files(workdir):
    case = CASES / "filter_dedup_set"
    rows = synthforge.read_records(case / "input.jsonl")
    from_file = synthforge.run_flow(case / "flow.yaml", case / "input.jsonl", params={"min_words": 2},
                                    run_dir=workdir / "a")
    from_rows = synthforge.run_flow(case / "flow.yaml", rows, params={"min_words": 2}, run_dir=workdir / "b")
    df = synthforge.to_pandas(rows)
    from_df = synthforge.run_flow(case / "flow.yaml", df, params={"min_words": 2}, run_dir=workdir / "c")
    assert from_rows == from_file
    # A DataFrame has every column in every row (missing cells become None), so compare
    # the columns the flow produced.
    assert [r["prompt"] for r in from_df] == [r["prompt"] for r in from_file]
    # The parameter reaches the flow: a stricter filter keeps fewer rows.
    strict = synthforge.run_flow(case / "flow.yaml", rows, params={"min_words": 6}, run_dir=workdir / "d")
    assert 0 < len(strict) < len(from_file)
    assert all(len(r["instruction"].split()) >= 6 for r in strict)


def test_run_flow_generate_with_the_tiny_model_in_process(workdir):
    model = workdir / "tiny.gguf"
    subprocess.run([CLI, "tiny-model", str(model)], check=True, capture_output=True)
    prompts = [{"prompt": f"Say something about {t}.", "id": i} for i, t in enumerate(["rivers", "owls", "tea"])]
    result = synthforge.run(SOURCE_DIR / "flows" / "generate.yaml", prompts,
                            params={"model": str(model), "max_tokens": 8, "concurrency": 2},
                            run_dir=workdir / "gen", seed=3)
    # The tiny model's text is noise: check the structure only. Every prompt is answered
    # or rejected with a reason, in input order.
    answered = {r["id"] for r in result.rows}
    rejected = {r["id"] for r in result.rejected}
    assert answered | rejected == {0, 1, 2} and not answered & rejected
    assert answered, result.rejected
    for r in result.rows:
        assert r["prompt"] == prompts[r["id"]]["prompt"]
        assert isinstance(r["response"], str)
    assert [r["id"] for r in result.rows] == sorted(answered)


# ---------------------------------------------------------------------------- data


def test_dataframe_round_trip_through_csv_and_jsonl(workdir):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"text": ["a, \"quoted\" cell", "line\nbreak", "ünïcode"],
                       "n": [1, 2, 3], "score": [0.5, float("nan"), 2.25], "ok": [True, False, True]})
    rows = synthforge.from_pandas(df)
    assert rows[1]["score"] is None  # a missing number is a missing value, not NaN
    assert rows[0] == {"text": "a, \"quoted\" cell", "n": 1, "score": 0.5, "ok": True}
    for name in ["data.jsonl", "data.json", "data.csv"]:
        assert synthforge.write_records(workdir / name, rows) == 3
    back = synthforge.read_records(workdir / "data.jsonl")
    assert back == rows
    assert synthforge.read_records(workdir / "data.json") == rows
    pd.testing.assert_frame_equal(synthforge.to_pandas(back), df)
    csv_rows = synthforge.read_records(workdir / "data.csv")
    assert [r["text"] for r in csv_rows] == list(df["text"])
    assert list(csv_rows[0]) == list(df.columns)


def test_nested_values_and_big_integers_survive(workdir):
    rows = [{"messages": [{"role": "user", "content": "hi"}], "meta": {"k": [1, 2.5, None, True]},
             "big": 2**63 + 5, "neg": -(2**62)}]
    synthforge.write_records(workdir / "n.jsonl", rows)
    assert synthforge.read_records(workdir / "n.jsonl") == rows


# ---------------------------------------------------------------------------- dedup


def test_dedup_exact_normalises_like_the_block():
    texts = ["Hello   World", "hello world", "Hello, world!", "other"]
    assert synthforge.dedup_exact(texts) == [0, 2, 3]
    assert synthforge.dedup_exact(texts, strip_punctuation=True) == [0, 3]
    assert synthforge.dedup_exact(texts, lowercase=False, collapse_whitespace=False) == [0, 1, 2, 3]


def lcs(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l_reference(a, b):
    ta, tb = words(a), words(b)
    if not ta or not tb:
        return 0.0
    n = lcs(ta, tb)
    p, r = n / len(tb), n / len(ta)
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


TEXTS = [
    "Write a short poem about the sea at night.",
    "Write a short poem about the sea at dawn.",
    "Explain how a refrigerator keeps food cold.",
    "Explain how refrigerators keep the food cold.",
    "List three facts about owls.",
    "Write a poem about the sea.",
    "Summarise the plot of Hamlet in two sentences.",
]


def test_rouge_l_and_dedup_rougel_agree_with_a_python_reference():
    for a in TEXTS:
        for b in TEXTS:
            assert synthforge.rouge_l(a, b) == pytest.approx(rouge_l_reference(a, b), abs=1e-12)
    for threshold in [0.3, 0.5, 0.7, 0.9]:
        kept = []
        for i, t in enumerate(TEXTS):
            if all(rouge_l_reference(TEXTS[k], t) <= threshold for k in kept):
                kept.append(i)
        assert synthforge.dedup_rougel(TEXTS, threshold) == kept, threshold


def test_minhash_jaccard_and_dedup_find_near_duplicates():
    base = " ".join(f"word{i}" for i in range(60))
    near = base.replace("word30", "changed")  # 5 of 56 shingles change
    far = " ".join(f"other{i}" for i in range(60))

    def shingles(t, n=5):
        w = t.split()
        return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}

    expected = len(shingles(base) & shingles(near)) / len(shingles(base) | shingles(near))
    assert synthforge.shingle_jaccard(base, near) == pytest.approx(expected, abs=1e-12)
    assert synthforge.shingle_jaccard(base, far) == 0.0
    assert synthforge.dedup_minhash([base, far, near], threshold=0.8) == [0, 1]
    # Above the pair's Jaccard, the near copy stays.
    assert synthforge.dedup_minhash([base, far, near], threshold=min(1.0, expected + 0.05)) == [0, 1, 2]


# ---------------------------------------------------------------------------- PII


def test_pii_findings_have_python_string_offsets():
    text = "Grüße — mail jane.doe@acme-corp.org, card 4111 1111 1111 1111, not 4111 1111 1111 1112."
    findings = synthforge.scan_pii(text)
    types = [f["type"] for f in findings]
    assert types == ["EMAIL", "CREDIT_CARD"]  # the Luhn-failing number is not a card
    for f in findings:
        assert text[f["start"]:f["end"]] == f["text"]
        assert text.encode()[f["byte_start"]:f["byte_end"]].decode() == f["text"]
    assert findings[1]["kind"] == "visa"
    assert synthforge.redact_pii(text) == text.replace("jane.doe@acme-corp.org", "<EMAIL>").replace(
        "4111 1111 1111 1111,", "<CREDIT_CARD>,")
    only_email = synthforge.scan_pii([text, "nothing here"], entities=["EMAIL"])
    assert [[f["type"] for f in fs] for fs in only_email] == [["EMAIL"], []]
    surrogate = synthforge.redact_pii([text, text], surrogate=True, seed=7)
    assert surrogate[0] == surrogate[1] and "jane.doe@acme-corp.org" not in surrogate[0]
    assert "EMAIL" in synthforge.pii_entity_types()


def test_pii_custom_patterns_and_deny_lists():
    text = "Ticket EMP-12345 was raised by Alice Smith."
    findings = synthforge.scan_pii(text, patterns=[{"name": "EMPLOYEE_ID", "regex": r"EMP-\d{5}"}],
                                   deny_lists=[{"name": "CUSTOMER", "terms": ["alice smith"]}])
    assert [(f["type"], f["text"]) for f in findings] == [("EMPLOYEE_ID", "EMP-12345"), ("CUSTOMER", "Alice Smith")]


# ---------------------------------------------------------------------------- metrics


def test_diversity_metrics_match_their_definitions():
    texts = ["The cat sat on the mat.", "The dog sat on the log!", "", "A bird flew."]
    m = synthforge.diversity_metrics(texts)
    toks = [words(t) for t in texts if words(t)]

    def distinct(n):
        grams = [tuple(t[i:i + n]) for t in toks for i in range(len(t) - n + 1)]
        return len(set(grams)) / len(grams)

    assert m["texts"] == 4 and m["empty_texts"] == 1
    assert m["tokens"] == sum(len(t) for t in toks)
    assert m["vocabulary"] == len({w for t in toks for w in t})
    for n in (1, 2, 3):
        assert m[f"distinct_{n}"] == pytest.approx(distinct(n), abs=1e-12)
    pairs = [(a, b) for i, a in enumerate(texts) for b in texts[i + 1:] if words(a) and words(b)]
    assert m["rougel_pairs"] == len(pairs)
    assert m["mean_pairwise_rougel"] == pytest.approx(
        sum(rouge_l_reference(a, b) for a, b in pairs) / len(pairs), abs=1e-12)
    from collections import Counter
    openings = Counter(" ".join(t[:2]) for t in toks)
    expected = sorted(openings.items(), key=lambda kv: (-kv[1], kv[0]))
    assert [(f["words"], f["count"]) for f in m["first_words"]] == expected
    assert m["first_words"][0]["share"] == pytest.approx(expected[0][1] / len(toks))
    same = synthforge.diversity_metrics(["same words here"] * 10)
    assert same["distinct_1"] == pytest.approx(3 / 30)
    assert {f["metric"] for f in same["flags"]} >= {"distinct_2"}


def test_similarity_to_reference_is_zero_distance_for_the_same_set():
    texts = ["one two three", "four five six seven", "eight nine"]
    s = synthforge.similarity_to_reference(texts, texts)
    assert s["jsd_unigram"] == pytest.approx(0.0, abs=1e-12)
    assert s["ks_length"] == 0.0
    assert s["tfidf_centroid_cosine"] == pytest.approx(1.0)
    d = synthforge.similarity_to_reference(texts, ["completely other vocabulary"])
    assert d["jsd_unigram"] == pytest.approx(1.0)


# ---------------------------------------------------------------------------- errors


def test_flow_errors_are_config_errors_naming_file_and_field(workdir):
    case = CASES / "invalid_flow"
    with pytest.raises(synthforge.ConfigError) as e:
        synthforge.run_flow(case / "flow.yaml", case / "input.jsonl", run_dir=workdir / "run")
    expected = (case / "expected" / "stderr").read_text().strip()
    assert expected in str(e.value)
    assert isinstance(e.value, synthforge.UserError) and isinstance(e.value, ValueError)


def test_bad_input_is_an_input_error_naming_the_line(workdir):
    bad = workdir / "bad.jsonl"
    bad.write_text('{"instruction": "a valid first row"}\n{"instruction": broken}\n')
    with pytest.raises(synthforge.InputError, match=r"bad\.jsonl:2"):
        synthforge.read_records(bad)
    assert synthforge.read_records(bad, skip_bad_records=True) == [{"instruction": "a valid first row"}]
    with pytest.raises(synthforge.InputError, match=r"bad\.jsonl:2"):
        synthforge.run_flow(CASES / "filter_dedup_set" / "flow.yaml", bad, run_dir=workdir / "run")


def test_wrong_python_values_name_the_field(workdir):
    with pytest.raises(TypeError, match=r"rows\[1\]\['when'\]"):
        synthforge.write_records(workdir / "x.jsonl", [{"when": 1}, {"when": object()}])
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        synthforge.dedup_exact(["a", 2])
    with pytest.raises(synthforge.UserError, match="threshold"):
        synthforge.dedup_minhash(["a"], threshold=0)
    with pytest.raises(ValueError, match="XX"):
        synthforge.scan_pii("x", phone_regions=["XX"])
    with pytest.raises(synthforge.UserError, match="format"):
        synthforge.write_records(workdir / "x.txt", [{"a": 1}])
    with pytest.raises(synthforge.UserError):
        synthforge.run_flow(workdir / "missing.yaml", run_dir=workdir / "run")


# ---------------------------------------------------------------------------- GIL


def test_long_cpp_work_lets_other_python_threads_run():
    import random
    import threading
    import time

    rng = random.Random(5)
    vocab = [f"w{i}" for i in range(300)]
    texts = [" ".join(rng.choice(vocab) for _ in range(40)) for _ in range(4000)]
    span = {}

    def work():
        span["start"] = time.monotonic()
        synthforge.diversity_metrics(texts, sample_size=4000)
        span["end"] = time.monotonic()

    t = threading.Thread(target=work)
    ticks = []
    t.start()
    while t.is_alive():
        ticks.append(time.monotonic())
        time.sleep(0.001)
    t.join()
    inside = [x for x in ticks if span["start"] + 0.02 < x < span["end"] - 0.02]
    # Holding the GIL through the C++ call would leave this thread no tick inside it.
    assert span["end"] - span["start"] > 0.1, "the workload is too small to tell"
    assert len(inside) >= 5, (len(inside), span)
