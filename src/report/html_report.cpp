// Assembles the HTML report from the report data, section by section. A section without data
// says so in one line rather than disappearing, so a reader knows it was looked for.
#include "report/html_report.h"

#include "report/svg_chart.h"

#include <fmt/format.h>

namespace synthforge::report {

namespace {

constexpr const char* kStyle = R"css(
:root { --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --bg: #f5f6f8; --card: #fff; --accent: #4C78A8;
        --warn-bg: #fff7ed; --warn-line: #fdba74; --ok-bg: #f0fdf4; --ok-line: #86efac; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
       font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1160px; margin: 0 auto; padding: 24px 20px 48px; }
header h1 { font-size: 24px; margin: 0 0 2px; }
header .sub { color: var(--muted); margin: 0 0 12px; word-break: break-all; }
nav { display: flex; flex-wrap: wrap; gap: 6px; margin-bottom: 8px; }
nav a { color: var(--accent); text-decoration: none; padding: 3px 10px; border: 1px solid var(--line);
        border-radius: 999px; background: var(--card); font-size: 13px; }
nav a:hover { border-color: var(--accent); }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 18px 22px;
          margin-top: 18px; }
section > h2 { font-size: 18px; margin: 0 0 12px; padding-bottom: 8px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 0 0 4px; }
h3 .tag { font-size: 11px; font-weight: 600; color: #fff; background: var(--accent); border-radius: 4px;
          padding: 1px 6px; margin-left: 6px; vertical-align: 2px; }
.note { color: var(--muted); font-style: italic; margin: 6px 0; }
.stats { color: var(--muted); font-size: 13px; margin: 0 0 8px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 18px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; min-width: 0; }
.card + .card { margin-top: 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 10px; }
.chart-box { min-width: 0; }
.chart-box .caption { font-size: 12px; color: var(--muted); margin: 2px 0 0 4px; }
svg.chart { display: block; max-width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: 13px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f9fafb; font-weight: 600; color: #374151; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.total td { font-weight: 600; }
table.kv th { width: 180px; background: none; }
td.reason { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
td.example { color: var(--muted); font-size: 12px; word-break: break-word; }
td.desc { color: var(--muted); }
table.compact { width: auto; min-width: 520px; }
table.compact td, table.compact th { padding-right: 28px; }
table.metrics td:first-child { width: 220px; }
table.metrics td.num { width: 130px; }
code, .path { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px;
              background: #f3f4f6; padding: 1px 5px; border-radius: 4px; word-break: break-all; }
.flags { background: var(--warn-bg); border: 1px solid var(--warn-line); border-radius: 8px; padding: 10px 16px;
         margin-top: 12px; }
.flags h3 { margin-bottom: 6px; }
.flags ul { margin: 0; padding-left: 20px; }
.flags .sec { font-weight: 600; text-transform: uppercase; font-size: 11px; letter-spacing: .04em; color: #9a3412;
              margin-right: 6px; }
.ok { background: var(--ok-bg); border: 1px solid var(--ok-line); border-radius: 8px; padding: 8px 16px;
      margin-top: 12px; }
.sample { border: 1px solid var(--line); border-radius: 8px; margin: 10px 0; overflow: hidden; }
.sample .row-no { background: #f9fafb; border-bottom: 1px solid var(--line); padding: 4px 12px; font-size: 12px;
                  color: var(--muted); font-weight: 600; }
.sample pre { margin: 0; padding: 10px 12px; white-space: pre-wrap; word-break: break-word; font-size: 12.5px;
              font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
footer { color: var(--muted); font-size: 12px; margin-top: 20px; text-align: center; }
)css";

std::string esc(std::string_view s) {
    return escape_html(s);
}

std::string num(double v) {
    return esc(format_number(v));
}

std::string pct(double share) {
    return esc(format_number(share * 100, 3)) + "%";
}

std::string plural(uint64_t n, const char* one, const char* many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
}

std::string note(std::string_view text) {
    return fmt::format("<p class=\"note\">{}</p>\n", esc(text));
}

std::string section(const char* id, const char* title, const std::string& body) {
    return fmt::format("<section id=\"{}\">\n<h2>{}</h2>\n{}</section>\n", id, title, body);
}

std::string chart_box(const std::string& svg, std::string_view caption = {}) {
    std::string o = "<div class=\"chart-box\">" + svg;
    if (!caption.empty()) o += "<p class=\"caption\">" + esc(caption) + "</p>";
    return o + "</div>\n";
}

HistogramChart histogram_of(const Distribution& d, std::string id, std::string title, std::string x_label) {
    HistogramChart c;
    c.id = std::move(id);
    c.title = std::move(title);
    c.x_label = std::move(x_label);
    c.y_label = "rows";
    c.bins = d.bins;
    c.discrete = d.binning.discrete;
    c.overflow = d.binning.clip.has_value();
    Series s;
    for (const auto& b : d.bins) s.values.push_back(static_cast<double>(b.count));
    c.series.push_back(std::move(s));
    return c;
}

std::string overflow_caption(const Distribution& d, std::string_view unit) {
    if (!d.binning.clip) return {};
    return fmt::format("The last bar gathers the {} above {} {} (up to {}).",
                       plural(d.bins.back().count, "row", "rows"), format_number(*d.binning.clip), unit,
                       format_number(d.binning.max));
}

std::string stats_line(const Summary& s) {
    return fmt::format("mean {} · median {} · p99 {} · max {}", num(s.mean), num(s.median), num(s.p99), num(s.max));
}

std::string kv_row(std::string_view key, const std::string& value_html) {
    return fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", esc(key), value_html);
}

std::string names_list(const std::vector<std::string>& names) {
    std::string o;
    for (const auto& n : names) o += (o.empty() ? "" : ", ") + ("<code>" + esc(n) + "</code>");
    return o.empty() ? "none" : o;
}

std::string summary_section(const ReportData& d) {
    std::string o = "<table class=\"kv\">\n";
    o += kv_row("Input", fmt::format("<span class=\"path\">{}</span> ({})", esc(d.options.input.string()),
                                     esc(d.input_format.empty() ? "unknown format" : d.input_format)));
    std::string rows = num(static_cast<double>(d.rows));
    if (d.bad_records) rows += fmt::format(" · {} unreadable, left out", d.bad_records);
    o += kv_row("Rows", rows);
    o += kv_row("Columns", names_list(d.columns));
    std::string texts;
    for (const auto& f : d.text_fields)
        texts += (texts.empty() ? "" : ", ") + ("<code>" + esc(f.name) + "</code>") + (f.main ? " (main)" : "");
    o += kv_row("Text fields", texts.empty() ? "none" : texts);
    std::vector<std::string> numeric;
    for (const auto& n : d.numeric) numeric.push_back(n.name);
    o += kv_row("Numeric columns", names_list(numeric));
    if (d.reference) {
        const auto& r = *d.reference;
        o += kv_row("Reference", fmt::format("<span class=\"path\">{}</span> · {} · field <code>{}</code>",
                                             esc(r.path.string()), plural(r.rows, "row", "rows"), esc(r.field)));
    } else {
        o += kv_row("Reference", "none (<code>--reference FILE</code>)");
    }
    if (d.run) {
        std::string flow = d.run->flow.empty() ? "" : fmt::format(" · flow <code>{}</code>", esc(d.run->flow));
        o += kv_row("Run directory", fmt::format("<span class=\"path\">{}</span>{} · status {}",
                                                 esc(d.run->dir.string()), flow, esc(d.run->status)));
    } else {
        o += kv_row("Run directory", "none (<code>--run DIR</code>)");
    }
    o += kv_row("Sample seed", esc(std::to_string(d.options.seed)));
    o += "</table>\n";
    if (d.flags.empty()) {
        o += "<div class=\"ok\">No flags raised.</div>\n";
    } else {
        o += fmt::format("<div class=\"flags\"><h3>Flags raised ({})</h3><ul>\n", d.flags.size());
        for (const auto& f : d.flags)
            o += fmt::format("<li><span class=\"sec\">{}</span>{}</li>\n", esc(f.section), esc(f.message));
        o += "</ul></div>\n";
    }
    return o;
}

std::string lengths_section(const ReportData& d) {
    std::string o;
    if (d.text_fields.empty())
        o += note("No text fields in this file: no string column averages 3 words or more (name one with --field).");
    else if (!d.fields_given)
        o += "<p class=\"stats\">Text fields: string columns averaging at least 3 words. Words are separated by "
             "whitespace; characters are Unicode code points.</p>\n";
    for (const auto& f : d.text_fields) {
        o += "<div class=\"card\">\n";
        o += fmt::format("<h3>{}{}</h3>\n", esc(f.name), f.main ? "<span class=\"tag\">main</span>" : "");
        o += fmt::format("<p class=\"stats\">{} with text{} · words: {} · characters: {}</p>\n",
                         plural(f.words.stats.count, "row", "rows"),
                         f.missing ? fmt::format(" · {} without", f.missing) : "", stats_line(f.words.stats),
                         stats_line(f.chars.stats));
        o += "<div class=\"charts\">\n";
        o += chart_box(
            histogram_svg(histogram_of(f.words, "words-" + f.name, "Words per row in " + f.name, "words in " + f.name)),
            overflow_caption(f.words, "words"));
        o += chart_box(histogram_svg(histogram_of(f.chars, "chars-" + f.name, "Characters per row in " + f.name,
                                                  "characters in " + f.name)),
                       overflow_caption(f.chars, "characters"));
        o += "</div></div>\n";
    }
    if (!d.short_columns.empty()) {
        std::string list;
        for (const auto& c : d.short_columns)
            list += (list.empty() ? "" : ", ") + fmt::format("<code>{}</code> ({} word{})", esc(c.name),
                                                             num(c.mean_words), c.mean_words == 1 ? "" : "s");
        o += "<p class=\"stats\">Left out, averaging under 3 words: " + list + ".</p>\n";
    }
    return o;
}

std::string scores_section(const ReportData& d) {
    if (d.numeric.empty()) return note("No numeric columns in this file.");
    std::string o = "<div class=\"grid\">\n";
    for (const auto& n : d.numeric) {
        const auto& s = n.values.stats;
        o += "<div class=\"card\">\n";
        o += fmt::format("<h3>{}</h3>\n", esc(n.name));
        o += fmt::format("<p class=\"stats\">{}{} · mean {} · std {} · min {} · median {} · max {}</p>\n",
                         plural(s.count, "value", "values"), n.missing ? fmt::format(" · {} missing", n.missing) : "",
                         num(s.mean), num(s.stddev), num(s.min), num(s.median), num(s.max));
        o += chart_box(histogram_svg(histogram_of(n.values, "numeric-" + n.name, "Distribution of " + n.name, n.name)),
                       overflow_caption(n.values, ""));
        o += "</div>\n";
    }
    return o + "</div>\n";
}

std::string leakage_section(const ReportData& d) {
    if (d.leakage.empty())
        return note("No leakage column in this file: a flow's leakage block adds one (docs/privacy.md).");
    std::string o;
    for (const auto& l : d.leakage) {
        o += fmt::format("<h3>{}</h3>\n", esc(l.column));
        o += fmt::format(
            "<p class=\"stats\">{} · {} within distance {} of a record (near copies) · {} sharing a run of {}+ "
            "tokens</p>\n",
            plural(l.distance.stats.count, "row", "rows"), l.near_copies, num(kNearCopyDistance), l.long_runs,
            num(kLongRunTokens));
        o += "<div class=\"grid\">\n";
        o += chart_box(histogram_svg(histogram_of(l.distance, "dcr-" + l.column, "Distance to the closest record",
                                                  "1 - ROUGE-L F1 with the closest record")),
                       "Distance to closest record (DCR): 0 is a verbatim copy of a private or seed record, 1 shares "
                       "no word sequence with any. A mass near 0 means memorised or copied records.");
        o += chart_box(
            histogram_svg(histogram_of(l.common_run, "run-" + l.column, "Longest run shared with a record", "tokens")),
            overflow_caption(l.common_run, "tokens"));
        o += "</div>\n";
    }
    return o;
}

std::string metric_row(std::string_view name, const std::string& value, std::string_view desc) {
    return fmt::format("<tr><td>{}</td><td class=\"num\">{}</td><td class=\"desc\">{}</td></tr>\n", esc(name), value,
                       esc(desc));
}

std::string diversity_section(const ReportData& d) {
    if (!d.diversity) return note("No main text field in this file, so no diversity metrics.");
    const auto& s = *d.diversity;
    const auto& m = s.metrics;
    std::string o = fmt::format(
        "<p class=\"stats\">Field <code>{}</code>: {} texts, {} tokens, {} distinct words (tokens: lowercase letters "
        "and digits).</p>\n",
        esc(s.field), num(static_cast<double>(m.texts)), num(static_cast<double>(m.tokens)),
        num(static_cast<double>(m.vocabulary)));
    o += "<table class=\"metrics\"><tr><th>metric</th><th class=\"num\">value</th><th>what it says</th></tr>\n";
    o += metric_row("distinct-1", num(m.distinct_1), "distinct words / all words");
    o += metric_row("distinct-2", num(m.distinct_2), "distinct word pairs / all pairs; low means repetitive phrasing");
    o += metric_row("distinct-3", num(m.distinct_3), "distinct word triples / all triples");
    o += metric_row("entropy-1", num(m.entropy_1) + " bits", "Shannon entropy of the word frequencies");
    o += metric_row("entropy-2", num(m.entropy_2) + " bits", "entropy of the word-pair frequencies");
    o += metric_row("entropy-3", num(m.entropy_3) + " bits", "entropy of the word-triple frequencies");
    o += metric_row("self-BLEU", num(m.self_bleu),
                    fmt::format("mean BLEU-4 of each text against the others ({} sampled texts); high means texts "
                                "resemble each other",
                                m.self_bleu_sample));
    o += metric_row("mean pairwise ROUGE-L", num(m.mean_pairwise_rougel),
                    fmt::format("mean ROUGE-L F1 over {} pairs of the sample", m.rougel_pairs));
    o += metric_row("duplicate texts", num(static_cast<double>(s.duplicate_texts)),
                    "rows whose text equals an earlier row's exactly");
    o +=
        metric_row("distinct openings", num(static_cast<double>(m.distinct_first_words)), "different first-words keys");
    o += "</table>\n";
    if (m.flags.empty()) {
        o += "<div class=\"ok\">No diversity flags.</div>\n";
    } else {
        o += "<div class=\"flags\"><ul>\n";
        for (const auto& f : m.flags)
            o += fmt::format("<li><span class=\"sec\">{}</span>{}</li>\n", esc(f.metric), esc(f.message));
        o += "</ul></div>\n";
    }
    if (m.first_words.empty()) return o + note("No text has a word to begin with.");
    BarChart c;
    c.id = "first-words";
    c.title = "Most common first words of " + s.field;
    for (const auto& f : m.first_words)
        c.bars.push_back({f.words, static_cast<double>(f.count),
                          fmt::format("{} ({})", f.count, format_number(f.share * 100, 3) + "%")});
    o += fmt::format("<h3 style=\"margin-top:14px\">Most common openings (top {} of {})</h3>\n", m.first_words.size(),
                     m.distinct_first_words);
    o += chart_box(bar_chart_svg(c), "Rows per first-words key; the share is of texts with at least one word.");
    return o;
}

std::string similarity_section(const ReportData& d) {
    if (!d.reference) return note("No reference file given (--reference FILE).");
    if (!d.similarity) return note(d.similarity_note);
    const auto& s = *d.similarity;
    const auto& m = s.metrics;
    std::string o = fmt::format(
        "<p class=\"stats\">Synthetic field <code>{}</code> ({} texts) against reference field <code>{}</code> ({} "
        "texts){}.</p>\n",
        esc(s.synthetic_field), m.synthetic_texts, esc(s.reference_field), m.reference_texts,
        d.reference->field_is_fallback ? ", the reference's longest text column (it has no column of the same name)"
                                       : "");
    o += "<table class=\"metrics\"><tr><th>metric</th><th class=\"num\">value</th><th>what it says</th></tr>\n";
    o += metric_row("JSD, words", num(m.jsd_unigram),
                    "Jensen-Shannon divergence of the word distributions: 0 same, 1 disjoint");
    o += metric_row("JSD, word pairs", num(m.jsd_bigram), "the same for word pairs");
    o += metric_row("KS, length", num(m.ks_length),
                    fmt::format("Kolmogorov-Smirnov D of the word counts: 0 same lengths (p-value {})",
                                format_number(m.ks_length_p_value)));
    o += metric_row("TF-IDF centroid cosine", num(m.tfidf_centroid_cosine),
                    "cosine of the mean TF-IDF vectors: 1 same average vocabulary");
    o += "</table>\n";
    o += "<table class=\"compact\"><tr><th>words per text</th><th class=\"num\">mean</th><th "
         "class=\"num\">median</th><th "
         "class=\"num\">p99</th><th class=\"num\">max</th></tr>\n";
    for (const auto& [name, w] : {std::pair{"synthetic", s.synthetic_words}, std::pair{"reference", s.reference_words}})
        o += fmt::format(
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td "
            "class=\"num\">{}</td></tr>\n",
            name, num(w.mean), num(w.median), num(w.p99), num(w.max));
    o += "</table>\n";

    HistogramChart c;
    c.id = "similarity-words";
    c.title = "Words per text, synthetic and reference";
    c.x_label = "words per text";
    c.y_label = "share of rows";
    c.percent = true;
    c.bins = s.synthetic_bins;
    c.discrete = s.binning.discrete;
    c.overflow = s.binning.clip.has_value();
    for (const auto* bins : {&s.synthetic_bins, &s.reference_bins}) {
        Series series;
        series.name = bins == &s.synthetic_bins ? "synthetic" : "reference";
        uint64_t total = 0;
        for (const auto& b : *bins) total += b.count;
        for (const auto& b : *bins) series.values.push_back(total ? static_cast<double>(b.count) / total : 0.0);
        c.series.push_back(std::move(series));
    }
    o += chart_box(histogram_svg(c), "Shares of each set's rows, so sets of different sizes compare.");
    return o;
}

std::string rejections_section(const ReportData& d) {
    if (!d.run) return note("No run directory given (--run DIR, or synthforge run --report FILE).");
    const auto& r = *d.run;
    std::string o;
    if (r.has_counts) {
        o += "<table class=\"compact\"><tr><th>block</th><th>type</th><th class=\"num\">rows in</th><th "
             "class=\"num\">rows "
             "out</th><th class=\"num\">rejected</th><th class=\"num\">rejected share</th></tr>\n";
        auto row = [&](std::string_view name, std::string_view type, uint64_t in, uint64_t out, uint64_t rej,
                       const char* cls) {
            o += fmt::format(
                "<tr{}><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td "
                "class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                cls, esc(name), esc(type), in, out, rej, in ? pct(static_cast<double>(rej) / in) : "–");
        };
        if (r.input_rows_rejected)
            row("input", "(unreadable records)", r.rows_in + r.input_rows_rejected, r.rows_in, r.input_rows_rejected,
                "");
        for (const auto& b : r.blocks) row(b.name, b.type, b.rows_in, b.rows_out, b.rows_rejected, "");
        row("whole run", "", r.rows_in, r.rows_out, r.rows_rejected, " class=\"total\"");
        o += "</table>\n";
    } else {
        o += note("metadata.json holds no row counts: the run has not finished.");
    }
    if (!r.rejects_found) return o + note("No rejects.jsonl in the run directory.");
    if (r.rejects_read == 0) return o + note("No rows were rejected.");

    BarChart c;
    c.id = "rejected-by-block";
    c.title = "Rejected rows per block";
    for (const auto& [block, n] : r.rejected_by)
        c.bars.push_back({block, static_cast<double>(n),
                          fmt::format("{} ({})", n, format_number(100.0 * n / r.rejects_read, 3) + "%")});
    o += "<h3 style=\"margin-top:14px\">Rejected rows per block</h3>\n";
    o += chart_box(bar_chart_svg(c));

    o += "<h3 style=\"margin-top:14px\">Reasons</h3>\n";
    o += "<p class=\"stats\">Reasons are grouped with numbers shown as N and quoted values as \"…\"; the example is "
         "one reason as written.</p>\n";
    o += "<table><tr><th>block</th><th>reason</th><th class=\"num\">rows</th><th class=\"num\">share of "
         "block</th><th>example</th></tr>\n";
    auto block_total = [&](const std::string& block) {
        for (const auto& [b, n] : r.rejected_by)
            if (b == block) return n;
        return uint64_t{0};
    };
    auto other_row = [&](const std::string& block) {
        for (const auto& g : r.other)
            if (g.block == block)
                o += fmt::format(
                    "<tr><td>{}</td><td class=\"reason\">{} other reasons</td><td class=\"num\">{}</td><td "
                    "class=\"num\">{}</td><td></td></tr>\n",
                    esc(block), g.reasons, g.rows, pct(static_cast<double>(g.rows) / block_total(block)));
    };
    std::string prev;
    for (const auto& g : r.reasons) {
        if (!prev.empty() && g.block != prev) other_row(prev);
        prev = g.block;
        o += fmt::format(
            "<tr><td>{}</td><td class=\"reason\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td "
            "class=\"example\">{}</td></tr>\n",
            esc(g.block), esc(truncate_utf8(g.reason, 300)), g.count,
            pct(static_cast<double>(g.count) / block_total(g.block)), esc(truncate_utf8(g.example, 300)));
    }
    if (!prev.empty()) other_row(prev);
    return o + "</table>\n";
}

std::string samples_section(const ReportData& d) {
    if (d.samples.empty())
        return note(d.rows == 0 ? "No rows in this file." : "No sample rows asked for (--samples 0).");
    std::string o =
        fmt::format("<p class=\"stats\">{} of {} rows, chosen with seed {}; strings over {} characters are cut.</p>\n",
                    d.samples.size(), d.rows, d.options.seed, d.options.sample_chars);
    for (const auto& s : d.samples)
        o += fmt::format("<div class=\"sample\"><div class=\"row-no\">row {}</div><pre>{}</pre></div>\n", s.row,
                         esc(s.record.dump(2, ' ', false, Json::error_handler_t::replace)));
    return o;
}

}  // namespace

std::string render_html(const ReportData& d) {
    std::string name = d.options.input.filename().string();
    std::string o = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    o += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    o += fmt::format("<title>synthforge report: {}</title>\n<style>{}</style>\n</head>\n<body>\n<main>\n", esc(name),
                     kStyle);
    o += fmt::format("<header>\n<h1>Quality report: {}</h1>\n<p class=\"sub\">{} · synthforge {}</p>\n", esc(name),
                     plural(d.rows, "row", "rows"), SYNTHFORGE_VERSION);
    o += "<nav><a href=\"#summary\">Summary</a><a href=\"#lengths\">Lengths</a><a href=\"#scores\">Scores</a>"
         "<a href=\"#diversity\">Diversity</a><a href=\"#similarity\">Similarity</a><a "
         "href=\"#rejections\">Rejections</a><a href=\"#samples\">Sample rows</a></nav>\n</header>\n";
    o += section("summary", "Summary", summary_section(d));
    o += section("lengths", "Lengths", lengths_section(d));
    o += section("scores", "Scores", scores_section(d));
    o += section("diversity", "Diversity", diversity_section(d));
    o += section("leakage", "Distance to private or seed records", leakage_section(d));
    o += section("similarity", "Similarity to reference", similarity_section(d));
    o += section("rejections", "Rejections", rejections_section(d));
    o += section("samples", "Sample rows", samples_section(d));
    o += "<footer>Written by <code>synthforge report</code>. Self-contained: no scripts, fonts or images are "
         "loaded.</footer>\n</main>\n</body>\n</html>\n";
    return o;
}

}  // namespace synthforge::report
