#!/usr/bin/env python3
"""`synthforge report` through the real CLI, and its HTML rendered in headless Chromium.

- On a JSONL of known content, --json holds the expected numbers: rows, text fields picked by the
  3-word rule (the longest is the main field), word-count statistics, numeric columns including
  the judge's per-dimension scores (ids left out), histograms that add up to the rows, duplicate
  texts and most common openings.
- --reference adds the similarity section: against an identical reference every divergence is 0;
  against a plain-text reference the field falls back to its `text` column.
- --run DIR fills the rejections section from a real run: reasons grouped by block with numbers
  masked, counts equal to the rejects file; `synthforge run --report` writes the same section.
- The HTML loads nothing: no scripts, images, styles or links to anywhere but its own sections;
  a sample holding HTML and URLs shows them as text.
- Headless Chromium renders every chart: each <svg class="chart"> is in the DOM with a size, and
  every bar with a value above 0 has a non-zero box (measured by a probe script added to a copy).
  Without Chromium the test fails and says to run scripts/install-deps.sh.
"""
import argparse
import html.parser
import json
import math
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

OPENINGS = ["write a", "explain how", "describe the", "list three"]
FILLER = ("river garden planet music letter ocean history science city story poem recipe bridge "
          "forest engine market winter castle island harbor").split()
EVIL = 'Write a page with <img src="https://evil.example/x.png"> and <a href="http://example.com/">a link</a> now'

PROBE = r"""<script>
(function () {
  const out = {charts: [], resources: [], loaders: [], links: []};
  for (const svg of document.querySelectorAll('svg.chart')) {
    const box = svg.getBoundingClientRect();
    let visible = 0, invisible = 0, bars = 0;
    for (const r of svg.querySelectorAll('rect.bar')) {
      bars++;
      if (!(parseFloat(r.getAttribute('data-value')) > 0)) continue;
      const b = r.getBBox(), c = r.getBoundingClientRect();
      if (b.width > 0 && b.height > 0 && c.width > 0 && c.height > 0) visible++; else invisible++;
    }
    out.charts.push({id: svg.getAttribute('data-chart'), width: box.width, height: box.height,
                     bars: bars, visible: visible, invisible: invisible});
  }
  out.resources = performance.getEntriesByType('resource').map(e => e.name);
  for (const el of document.querySelectorAll('img,iframe,object,embed,video,audio,source,link,script[src]'))
    out.loaders.push(el.outerHTML.slice(0, 120));
  for (const el of document.querySelectorAll('[href]'))
    if (!el.getAttribute('href').startsWith('#')) out.links.push(el.getAttribute('href'));
  const pre = document.createElement('pre');
  pre.id = 'probe-result';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def close(a, b, tol=1e-6):
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def percentile(sorted_values, q):
    pos = q * (len(sorted_values) - 1)
    i = math.floor(pos)
    if i + 1 >= len(sorted_values):
        return sorted_values[-1]
    return sorted_values[i] + (sorted_values[i + 1] - sorted_values[i]) * (pos - i)


def letters(i):
    """A word unique to row i, letters only (so no normaliser merges two rows)."""
    s = ""
    i += 26
    while i:
        s = chr(97 + i % 26) + s
        i //= 26
    return "q" + s


def make_rows(n):
    rows = []
    for i in range(n):
        k = 3 + i % 10  # instruction: 4..13 words
        instruction = " ".join([letters(i)] + [FILLER[(i + j) % len(FILLER)] for j in range(k)])
        if i == 0:
            instruction = EVIL
        m = 14 + (i * 7) % 23  # output: the longer field, so the main one
        output = OPENINGS[i % 4] + " " + " ".join([letters(i)] + [FILLER[(i * 3 + j) % len(FILLER)] for j in range(m)])
        rows.append({"id": i, "category": f"c{i % 3}", "instruction": instruction, "output": output,
                     "judge": {"scores": {"helpfulness": i % 5, "correctness": (i * 3) % 5},
                               "overall": round(((i % 5) + (i * 3) % 5) / 8, 4)},
                     "score": round(i / (n - 1), 4)})
    for i in range(100, 105):  # exact duplicates of earlier outputs
        rows[i]["output"] = rows[i - 100]["output"]
    return rows


def run(cmd, **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    check(p.returncode == 0, f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{p.stderr}")
    return p


class TagCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []  # (tag, attrs)
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style += data


def check_self_contained(path):
    text = path.read_text()
    parser = TagCollector()
    parser.feed(text)
    names = {t for t, _ in parser.tags}
    for banned in ("script", "link", "img", "iframe", "object", "embed", "video", "audio", "source", "base"):
        check(banned not in names, f"{path.name}: has a <{banned}> element")
    for tag, attrs in parser.tags:
        for a in ("src", "srcset", "action", "poster", "background", "xlink:href", "data"):
            check(a not in attrs, f"{path.name}: <{tag} {a}=...>")
        if "href" in attrs:
            check(attrs["href"].startswith("#"), f"{path.name}: <{tag} href={attrs['href']!r}> leaves the page")
        check("url(" not in attrs.get("style", ""), f"{path.name}: a style attribute loads a url()")
    check("url(" not in parser.style and "@import" not in parser.style, f"{path.name}: the CSS loads something")
    # The sample's URLs are in the file, but only as escaped text, never as an attribute value.
    check("https://evil.example/x.png" in text, f"{path.name}: the sample with URLs is not shown")
    for tag, attrs in parser.tags:
        for name, value in attrs.items():
            check("//" not in (value or ""), f"{path.name}: <{tag} {name}={value!r}>")
    check("&lt;img src=" in text, f"{path.name}: the sample's HTML is not shown as text")


def find_chromium():
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    print("FAIL: Chromium is not installed, so the report cannot be rendered. Run scripts/install-deps.sh "
          "(it installs Debian's `chromium` package).")
    sys.exit(1)


def render(chromium, path, work, expected_charts, html_sample=True):
    """Renders a copy of the report with the probe and checks every chart has visible bars."""
    probe = work / (path.stem + ".probe.html")
    probe.write_text(path.read_text().replace("</body>", PROBE + "\n</body>"))
    profile = work / "chromium-profile"
    p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                        "--dump-dom", probe.resolve().as_uri()], capture_output=True, text=True, timeout=180)
    check(p.returncode == 0, f"chromium exited {p.returncode}: {p.stderr[-2000:]}")
    m = re.search(r'<pre id="probe-result">(.*?)</pre>', p.stdout, re.S)
    check(m, f"{path.name}: the probe wrote nothing; rendered DOM starts {p.stdout[:300]!r}")
    result = json.loads(m.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                        .replace("&amp;", "&"))
    ids = [c["id"] for c in result["charts"]]
    check(sorted(ids) == sorted(expected_charts), f"{path.name}: charts {sorted(ids)}, want {sorted(expected_charts)}")
    for c in result["charts"]:
        check(c["width"] > 100 and c["height"] > 50, f"{path.name}: chart {c['id']} is {c['width']}x{c['height']}")
        check(c["visible"] > 0 and c["invisible"] == 0, f"{path.name}: chart {c['id']}: {c}")
    check(result["resources"] == [], f"{path.name}: the page loaded {result['resources']}")
    check(result["loaders"] == [], f"{path.name}: elements that load: {result['loaders']}")
    check(result["links"] == [], f"{path.name}: links out of the page: {result['links']}")
    if html_sample:
        check("&lt;img src=" in p.stdout, f"{path.name}: the sample's HTML did not render as text")
    shot = work / (path.stem + ".png")
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                    "--hide-scrollbars", f"--screenshot={shot}", "--window-size=1200,3000", path.resolve().as_uri()],
                   capture_output=True, timeout=180)
    check(shot.exists() and shot.stat().st_size > 20000, f"{path.name}: no screenshot")
    total = sum(c["visible"] for c in result["charts"])
    print(f"{path.name}: {len(ids)} charts rendered, {total} bars visible, nothing loaded")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthforge", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the work directory (reports, screenshots)")
    a = ap.parse_args()
    sf = a.synthforge
    chromium = find_chromium()
    work = pathlib.Path(tempfile.mkdtemp(prefix="sf-report-"))
    try:
        n = 120
        rows = make_rows(n)
        inp = work / "data.jsonl"
        inp.write_text("".join(json.dumps(r) + "\n" for r in rows))

        # 1. The input alone.
        html1, json1 = work / "plain.html", work / "plain.json"
        run([sf, "report", inp, "-o", html1, "--json", json1, "-q"])
        m = json.loads(json1.read_text())
        check(m["input"]["rows"] == n and m["input"]["bad_records"] == 0, m["input"])
        check([f["name"] for f in m["text_fields"]] == ["instruction", "output"], m["text_fields"])
        check([f["name"] for f in m["text_fields"] if f["main"]] == ["output"], "output is the main field")
        check([c["name"] for c in m["short_columns"]] == ["category"], m["short_columns"])
        for f in m["text_fields"]:
            words = sorted(len(r[f["name"]].split()) for r in rows)
            w = f["words"]
            check(w["count"] == n and close(w["mean"], sum(words) / n), (f["name"], w["mean"]))
            check(w["min"] == words[0] and w["max"] == words[-1], (f["name"], w["min"], w["max"]))
            for q, key in ((0.25, "p25"), (0.5, "median"), (0.75, "p75"), (0.99, "p99")):
                check(close(w[key], percentile(words, q)), (f["name"], key, w[key], percentile(words, q)))
            chars = sorted(len(r[f["name"]]) for r in rows)
            check(f["chars"]["max"] == chars[-1] and close(f["chars"]["mean"], sum(chars) / n), f["chars"]["mean"])
            for d in (f["words"], f["chars"]):
                check(sum(b["count"] for b in d["histogram"]["bins"]) == n, d["histogram"])
        numeric = {c["name"]: c for c in m["numeric_columns"]}
        check(set(numeric) == {"judge.scores.helpfulness", "judge.scores.correctness", "judge.overall", "score"},
              sorted(numeric))
        helpful = numeric["judge.scores.helpfulness"]["histogram"]
        check(helpful["discrete"] and [(b["from"], b["count"]) for b in helpful["bins"]] ==
              [(v, n // 5) for v in range(5)], helpful)
        check(close(numeric["score"]["mean"], sum(r["score"] for r in rows) / n), numeric["score"]["mean"])
        check(numeric["score"]["min"] == 0 and numeric["score"]["max"] == 1, numeric["score"])
        d = m["diversity"]
        check(d["field"] == "output" and d["texts"] == n and d["duplicate_texts"] == 5, d)
        check([(f["words"], f["count"]) for f in d["first_words"][:4]] == sorted((o, n // 4) for o in OPENINGS), d)
        check(any(f["metric"] == "first_words" for f in d["flags"]), d["flags"])
        check(any(f["section"] == "diversity" for f in m["flags"]), m["flags"])
        check(m["reference"] is None and m["similarity"] is None and m["rejections"] is None, "no optional sections")
        check(len(m["samples"]) == 10 and [s["row"] for s in m["samples"]] == sorted(s["row"] for s in m["samples"]),
              m["samples"])
        # Deterministic: the same seed gives the same report, another seed other sample rows.
        html1b = work / "plain_again.html"
        run([sf, "report", inp, "-o", html1b, "-q"])
        check(html1b.read_bytes() == html1.read_bytes(), "two reports of the same file differ")
        json_seed = work / "seed.json"
        run([sf, "report", inp, "--json", json_seed, "--seed", "7", "--samples", "3", "-q"])
        other = [s["row"] for s in json.loads(json_seed.read_text())["samples"]]
        check(len(other) == 3 and other != [s["row"] for s in m["samples"]][:3], other)
        # The row holding HTML is shown when sampled: ask for every row.
        html_all = work / "all.html"
        run([sf, "report", inp, "-o", html_all, "--samples", str(n), "-q"])
        check_self_contained(html_all)
        print("plain: numbers match, self-contained")

        # 2. With references: the same texts, then different ones in a plain-text file.
        same = work / "same.jsonl"
        same.write_text("".join(json.dumps({"output": r["output"]}) + "\n" for r in rows))
        json2 = work / "same.json"
        run([sf, "report", inp, "--json", json2, "--reference", same, "-q"])
        s = json.loads(json2.read_text())["similarity"]
        check(s["reference_field"] == "output" and s["reference_texts"] == n, s)
        check(close(s["jsd_unigram"], 0, 1e-9) and close(s["ks_length"], 0, 1e-9), s)
        check(close(s["tfidf_centroid_cosine"], 1, 1e-6), s)
        ref_txt = work / "real.txt"
        ref_lines = [" ".join(FILLER[(i * 5 + j) % len(FILLER)] for j in range(5 + i % 30)) for i in range(80)]
        ref_txt.write_text("\n".join(ref_lines) + "\n")
        html3, json3 = work / "ref.html", work / "ref.json"
        run([sf, "report", inp, "-o", html3, "--json", json3, "--reference", ref_txt, "--samples", str(n), "-q"])
        m3 = json.loads(json3.read_text())
        check(m3["reference"]["field"] == "text" and m3["reference"]["field_is_fallback"], m3["reference"])
        s = m3["similarity"]
        check(s["reference_texts"] == 80 and s["synthetic_texts"] == n, s)
        check(s["jsd_unigram"] > 0 and s["ks_length"] > 0, s)
        bins = s["length_histogram"]["bins"]
        check(sum(b["synthetic"] for b in bins) == n and sum(b["reference"] for b in bins) == 80, bins)
        check(close(sum(b["reference_share"] for b in bins), 1.0), bins)
        check_self_contained(html3)
        print("reference: similarity numbers as expected")

        # 3. With a run directory: a filter and a dedup over the same data.
        flow = work / "flow.yaml"
        flow.write_text("""version: 1
name: report-test
blocks:
  - name: long_enough
    type: filter
    config:
      where:
        - {column: instruction, length: words, op: ">", value: 6}
  - name: unique
    type: dedup_exact
    config:
      columns: [output]
""")
        out, rundir = work / "out.jsonl", work / "run"
        run([sf, "run", flow, "-i", inp, "-o", out, "--run-dir", rundir, "-q"])
        kept_filter = [r for r in rows if len(r["instruction"].split()) > 6]
        seen, kept = set(), []
        for r in kept_filter:
            if r["output"] not in seen:
                seen.add(r["output"])
                kept.append(r)
        n_short, n_dup = n - len(kept_filter), len(kept_filter) - len(kept)
        check(n_short > 10 and n_dup > 0, (n_short, n_dup))
        html4, json4 = work / "run.html", work / "run.json"
        run([sf, "report", out, "-o", html4, "--json", json4, "--run", rundir, "--samples", "200", "-q"])
        r = json.loads(json4.read_text())["rejections"]
        check(r["status"] == "complete" and r["rows_in"] == n and r["rows_out"] == len(kept), r)
        check(r["rows_rejected"] == n_short + n_dup and r["rejects_read"] == n_short + n_dup, r)
        check([(b["name"], b["rows_rejected"]) for b in r["blocks"]] == [("long_enough", n_short), ("unique", n_dup)],
              r["blocks"])
        reasons = [(g["block"], g["reason"], g["count"]) for g in r["reasons"]]
        check(reasons[0] == ("long_enough", "words(instruction) = N, not > N", n_short), reasons)
        check(reasons[1:] == [("unique", reasons[1][1], n_dup)] and "N" in reasons[1][1], reasons)
        check(re.fullmatch(r"words\(instruction\) = \d, not > 6", r["reasons"][0]["example"]), r["reasons"][0])
        # The run writes the same report itself.
        html5 = work / "from_run.html"
        run([sf, "run", flow, "-i", inp, "-o", work / "out2.jsonl", "--run-dir", work / "run2", "-q",
             "--report", html5])
        text5 = html5.read_text()
        check("words(instruction) = N, not &gt; N" in text5 and "long_enough" in text5, "run --report: no reasons")
        print("run: rejections grouped and counted")

        # 4. Errors: a field that is not there, a directory that is not a run, no output named.
        for args, want in (([inp, "-o", work / "x.html", "--field", "nope"], "--field nope"),
                           ([inp, "-o", work / "x.html", "--run", work], "no metadata.json"),
                           ([inp], "give -o")):
            p = subprocess.run([sf, "report", *map(str, args)], capture_output=True, text=True)
            check(p.returncode == 2 and want in p.stderr, (args, p.returncode, p.stderr))

        # 5. A leakage block's column: the distance to the closest record gets its own section.
        leak_rows = []
        for i in range(60):
            f1 = 1.0 if i < 3 else round((i % 10) / 12, 4)  # three verbatim copies
            run_len = 40 if i < 3 else i % 7
            leak_rows.append({"output": f"text {i}", "leakage": {"rougel": f1, "common_run": run_len, "jaccard": 0}})
        leak_in, leak_html, leak_json = work / "leak.jsonl", work / "leak.html", work / "leak.json"
        leak_in.write_text("".join(json.dumps(r) + "\n" for r in leak_rows))
        run([sf, "report", leak_in, "-o", leak_html, "--json", leak_json, "-q"])
        lk = json.loads(leak_json.read_text())["leakage"]
        check(len(lk) == 1 and lk[0]["column"] == "leakage", lk)
        dcr = lk[0]["distance_to_closest_record"]
        distances = sorted(1 - r["leakage"]["rougel"] for r in leak_rows)
        check(dcr["count"] == 60 and close(dcr["min"], 0) and close(dcr["max"], distances[-1]), dcr)
        check(sum(b["count"] for b in dcr["histogram"]["bins"]) == 60, dcr["histogram"])
        check(lk[0]["near_copies"] == sum(d <= 0.2 + 1e-12 for d in distances), lk[0])
        check(lk[0]["long_runs"] == 3, lk[0])
        leak_text = leak_html.read_text()
        check('data-chart="dcr-leakage"' in leak_text and "Distance to closest record" in leak_text, "no DCR chart")
        check("within ROUGE-L distance" in leak_text, "near copies are not flagged")
        print("leakage: distance-to-closest-record histogram")

        # 6. Chromium renders every chart.
        text_charts = ["words-instruction", "chars-instruction", "words-output", "chars-output"]
        numeric_charts = ["numeric-" + c for c in numeric]
        render(chromium, html_all, work, text_charts + numeric_charts + ["first-words"])
        render(chromium, html3, work, text_charts + numeric_charts + ["first-words", "similarity-words"])
        render(chromium, html4, work, text_charts + numeric_charts + ["first-words", "rejected-by-block"])
        render(chromium, leak_html, work, ["numeric-leakage.rougel", "numeric-leakage.common_run",
                                           "numeric-leakage.jaccard", "dcr-leakage", "run-leakage"], html_sample=False)
        print("report_test: ok")
    finally:
        if a.keep:
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
