// Gathers the report's data: one streaming pass over the input for lengths, numbers and
// samples, a second one for the main field's texts when the main field is only known at the
// end, and the same for the reference. Rejections come from the run directory's
// metadata.json and rejects.jsonl.
#include "report/report_data.h"

#include "report/svg_chart.h"
#include "synthforge/data/reader.h"
#include "synthforge/errors.h"
#include "synthforge/text/text_stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace synthforge::report {

namespace {

// Default text fields: string columns averaging at least this many words. Shorter ones are
// labels, ids and categories, whose length says nothing about quality.
constexpr double kMinMeanWords = 3;
// Distinct masked reasons kept per block: beyond it, new reasons are only counted, so a
// reason that quotes every row cannot take memory proportional to the rejects.
constexpr size_t kMaxReasonGroups = 10000;
constexpr size_t kMaxListItems = 50;

uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

size_t count_chars(std::string_view s) {
    size_t n = 0;
    for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
}

// Identifiers would make meaningless histograms, and columns starting with "_" are the
// engine's bookkeeping (_rejected_by, _source).
bool is_id_like(std::string_view name) {
    return name == "id" || (name.size() > 3 && name.ends_with("_id")) || name.starts_with("_");
}

// A CSV value as a number, when it is one. Leading zeros ("01234") mark a code, not a number.
std::optional<double> parse_number(std::string_view s) {
    if (s.size() > 1 && s[0] == '0' && s[1] >= '0' && s[1] <= '9') return std::nullopt;
    double v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
    return v;
}

Distribution distribution(std::vector<double> values, size_t max_bins) {
    Distribution d;
    std::sort(values.begin(), values.end());
    d.values = std::move(values);
    d.stats = summarize(d.values);
    if (!d.values.empty()) {
        d.binning = choose_binning(d.values, max_bins);
        d.bins = histogram(d.binning, d.values);
    }
    return d;
}

// One column's accumulated values. A column may hold strings in some rows and numbers in
// others; each kind is counted on its own.
struct ColumnAcc {
    std::string name;
    bool top_level = false;              // false: a value inside an object column ("judge.overall")
    std::vector<uint32_t> words, chars;  // per row holding a string
    uint64_t word_sum = 0;
    std::vector<double> numbers;  // per row holding a number
    // CSV has only strings: a column whose every non-empty value parses as a number is numeric.
    bool csv_numeric = true;
    std::vector<double> csv_numbers;

    double mean_words() const { return words.empty() ? 0 : static_cast<double>(word_sum) / words.size(); }
    bool numeric_csv() const { return csv_numeric && !csv_numbers.empty(); }
};

class Columns {
  public:
    ColumnAcc& get(const std::string& name) {
        auto [it, inserted] = index_.try_emplace(name, accs_.size());
        if (inserted) {
            accs_.emplace_back();
            accs_.back().name = name;
        }
        return accs_[it->second];
    }
    ColumnAcc* find(const std::string& name) {
        auto it = index_.find(name);
        return it == index_.end() ? nullptr : &accs_[it->second];
    }
    std::deque<ColumnAcc>& all() { return accs_; }

  private:
    std::unordered_map<std::string, size_t> index_;
    std::deque<ColumnAcc> accs_;  // a deque: references stay valid while columns are added
};

struct ScanResult {
    uint64_t rows = 0;
    uint64_t bad = 0;
    std::string first_bad;
};

// Streams the records of a file; bad records are counted and skipped, so one broken line
// does not cost the whole report.
ScanResult scan(const std::filesystem::path& path, const std::string& format,
                const std::function<void(const Record&, uint64_t)>& fn) {
    ScanResult r;
    ReadOptions ro;
    ro.format = format;
    ro.skip_bad_records = true;
    ro.on_bad_record = [&](const BadRecord& b) {
        if (r.bad++ == 0) r.first_bad = b.pos.str() + ": " + b.reason;
    };
    auto reader = open_reader(path, ro);
    Record rec;
    SourcePos pos;
    while (reader->next(rec, pos)) {
        ++r.rows;
        if (rec.is_object()) fn(rec, r.rows);
    }
    return r;
}

std::string format_label(const std::filesystem::path& path, const std::string& given) {
    if (!given.empty()) return given;
    auto f = format_from_path(path);
    return f ? std::string(format_name(*f)) : "";
}

// The reference's texts: the wanted field when the reference has it, else (unless the field
// was named explicitly) its own longest string column.
std::vector<std::string> read_reference(const ReportOptions& o, const std::string& main_field, ReferenceInfo& info) {
    info.path = o.reference;
    info.format = format_label(o.reference, o.reference_format);
    const std::string wanted = o.reference_field.empty() ? main_field : o.reference_field;
    std::vector<std::string> texts;
    std::map<std::string, std::pair<uint64_t, uint64_t>> word_sums;  // column -> (words, rows)
    std::vector<std::string> order;
    ScanResult r = scan(o.reference, o.reference_format, [&](const Record& rec, uint64_t) {
        for (const auto& [k, v] : rec.items()) {
            if (!v.is_string()) continue;
            const auto& s = v.get_ref<const std::string&>();
            if (k == wanted) texts.push_back(s);
            auto [it, inserted] = word_sums.try_emplace(k, 0, 0);
            if (inserted) order.push_back(k);
            it->second.first += text::split_words(s).size();
            ++it->second.second;
        }
    });
    info.rows = r.rows;
    info.bad_records = r.bad;
    info.field = wanted;
    if (texts.empty() && !o.reference_field.empty())
        throw UserError(fmt::format("--reference-field {}: no row of {} has a string in that column", o.reference_field,
                                    o.reference.string()));
    if (texts.empty()) {
        std::string best;
        double best_mean = -1;
        for (const auto& k : order) {
            auto [w, n] = word_sums[k];
            double mean = static_cast<double>(w) / static_cast<double>(n);
            if (mean > best_mean) best = k, best_mean = mean;
        }
        if (best.empty())
            throw UserError(fmt::format("--reference {}: no row has a string column to compare", o.reference.string()));
        info.field = best;
        info.field_is_fallback = true;
        scan(o.reference, o.reference_format, [&](const Record& rec, uint64_t) {
            auto it = rec.find(best);
            if (it != rec.end() && it->is_string()) texts.push_back(it->get<std::string>());
        });
    }
    info.texts = texts.size();
    return texts;
}

std::vector<std::string_view> views(const std::vector<std::string>& texts) {
    return {texts.begin(), texts.end()};
}

std::string read_text_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

RunSection read_run(const ReportOptions& o) {
    RunSection run;
    run.dir = o.run_dir;
    auto meta_path = o.run_dir / "metadata.json";
    if (!std::filesystem::is_regular_file(meta_path))
        throw UserError(
            fmt::format("--run {}: no metadata.json there; give the directory of a run "
                        "(runs/<flow>-<timestamp>)",
                        o.run_dir.string()));
    Json meta;
    try {
        meta = Json::parse(read_text_file(meta_path));
    } catch (const Json::exception& e) {
        throw UserError(fmt::format("{}: not valid JSON: {}", meta_path.string(), e.what()));
    }
    if (!meta.is_object()) throw UserError(meta_path.string() + ": not a JSON object");
    run.status = meta.value("status", "");
    if (meta.contains("flow") && meta["flow"].is_object()) run.flow = meta["flow"].value("name", "");
    auto u64 = [](const Json& j, const char* key) {
        auto it = j.find(key);
        return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : uint64_t{0};
    };
    if (meta.contains("rows_in")) {
        run.has_counts = true;
        run.rows_in = u64(meta, "rows_in");
        run.rows_out = u64(meta, "rows_out");
        run.rows_rejected = u64(meta, "rows_rejected");
        run.input_rows_rejected = u64(meta, "input_rows_rejected");
    }
    if (auto it = meta.find("blocks"); it != meta.end() && it->is_array())
        for (const auto& b : *it)
            if (b.is_object())
                run.blocks.push_back({b.value("name", ""), b.value("type", ""), u64(b, "rows_in"), u64(b, "rows_out"),
                                      u64(b, "rows_rejected")});

    // Reasons, block by block. The rejects file is written whole at the end of a run.
    auto rejects = o.run_dir / "rejects.jsonl";
    if (!std::filesystem::is_regular_file(rejects)) return run;
    run.rejects_found = true;
    struct Group {
        uint64_t count = 0;
        std::string example;
    };
    std::map<std::string, std::map<std::string, Group>> groups;  // block -> masked reason -> group
    std::map<std::string, uint64_t> per_block, overflow_rows;
    ScanResult r = scan(rejects, "jsonl", [&](const Record& rec, uint64_t) {
        std::string block = "(unknown)", reason = "(no reason given)";
        if (auto it = rec.find(kRejectedByColumn); it != rec.end() && it->is_string()) block = it->get<std::string>();
        if (auto it = rec.find(kReasonColumn); it != rec.end() && it->is_string()) reason = it->get<std::string>();
        ++per_block[block];
        auto& bg = groups[block];
        std::string key = mask_reason(std::string_view(reason).substr(0, 1000));
        auto it = bg.find(key);
        if (it == bg.end()) {
            if (bg.size() >= kMaxReasonGroups) {
                ++overflow_rows[block];
                return;
            }
            it = bg.emplace(std::move(key), Group{0, reason}).first;
        }
        ++it->second.count;
    });
    run.rejects_read = r.rows;

    // Blocks in flow order; "input" (unreadable input records) first, since it rejects first.
    std::vector<std::string> order;
    if (per_block.count("input")) order.push_back("input");
    for (const auto& b : run.blocks)
        if (per_block.count(b.name) && b.name != "input") order.push_back(b.name);
    for (const auto& [name, _] : per_block)
        if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);

    for (const auto& block : order) {
        run.rejected_by.emplace_back(block, per_block[block]);
        std::vector<ReasonGroup> list;
        for (auto& [key, g] : groups[block]) list.push_back({block, key, g.example, g.count});
        std::stable_sort(list.begin(), list.end(),
                         [](const ReasonGroup& a, const ReasonGroup& b) { return a.count > b.count; });
        OtherReasons other{block, 0, overflow_rows[block]};
        if (other.rows) other.reasons = 1;  // at least one more, uncounted
        for (size_t i = 0; i < list.size(); ++i) {
            if (i < o.max_reasons) {
                run.reasons.push_back(std::move(list[i]));
            } else {
                ++other.reasons;
                other.rows += list[i].count;
            }
        }
        if (other.rows) run.other.push_back(other);
    }
    return run;
}

}  // namespace

const TextField* ReportData::main_field() const {
    for (const auto& f : text_fields)
        if (f.main) return &f;
    return nullptr;
}

std::string mask_reason(std::string_view r) {
    std::string out;
    auto digit = [&](size_t i) { return i < r.size() && r[i] >= '0' && r[i] <= '9'; };
    for (size_t i = 0; i < r.size();) {
        if (r[i] == '"') {
            size_t j = i + 1;
            while (j < r.size() && r[j] != '"') j += r[j] == '\\' ? 2 : 1;
            if (j >= r.size()) {  // no closing quote: keep the rest as it is
                out.append(r.substr(i));
                break;
            }
            out += "\"…\"";
            i = j + 1;
        } else if (digit(i)) {
            while (digit(i) || (i < r.size() && r[i] == '.' && digit(i + 1))) ++i;
            out += 'N';
        } else {
            out += r[i++];
        }
    }
    return out;
}

Json shorten_for_display(const Json& value, size_t max_chars) {
    if (value.is_string()) {
        const auto& s = value.get_ref<const std::string&>();
        size_t chars = count_chars(s);
        if (chars <= max_chars) return value;
        std::string cut = truncate_utf8(s, max_chars);
        return cut + fmt::format(" [{} more characters]", chars - max_chars);
    }
    if (value.is_array()) {
        Json out = Json::array();
        for (size_t i = 0; i < value.size() && i < kMaxListItems; ++i)
            out.push_back(shorten_for_display(value[i], max_chars));
        if (value.size() > kMaxListItems) out.push_back(fmt::format("… [{} more items]", value.size() - kMaxListItems));
        return out;
    }
    if (value.is_object()) {
        Json out = Json::object();
        for (const auto& [k, v] : value.items()) out[k] = shorten_for_display(v, max_chars);
        return out;
    }
    return value;
}

ReportData collect_report(const ReportOptions& o) {
    ReportData d;
    d.options = o;
    d.input_format = format_label(o.input, o.input_format);
    d.fields_given = !o.fields.empty();
    const bool csv = d.input_format == "csv";
    const std::string given_main = o.fields.empty() ? "" : o.fields[0];

    Columns cols;
    std::vector<std::string> main_texts;
    struct Pick {
        uint64_t key, row;
        Json record;
    };
    std::vector<Pick> picks;  // a max-heap on key: the rows with the smallest keys are the sample
    auto by_key = [](const Pick& a, const Pick& b) { return a.key < b.key; };
    const uint64_t seed_mix = mix64(o.seed ^ 0x7265706f7274ULL);

    auto add_number = [&](const std::string& name, double v) { cols.get(name).numbers.push_back(v); };
    ScanResult scanned = scan(o.input, o.input_format, [&](const Record& rec, uint64_t row) {
        for (const auto& [k, v] : rec.items()) {
            ColumnAcc& c = cols.get(k);
            c.top_level = true;
            if (v.is_string()) {
                const auto& s = v.get_ref<const std::string&>();
                uint32_t w = static_cast<uint32_t>(text::split_words(s).size());
                c.words.push_back(w);
                c.chars.push_back(static_cast<uint32_t>(count_chars(s)));
                c.word_sum += w;
                if (csv && c.csv_numeric && !s.empty()) {
                    if (auto n = parse_number(s)) {
                        c.csv_numbers.push_back(*n);
                    } else {
                        c.csv_numeric = false;
                        std::vector<double>().swap(c.csv_numbers);
                    }
                }
                if (!given_main.empty() && k == given_main) main_texts.push_back(s);
            } else if (v.is_number()) {
                c.numbers.push_back(v.get<double>());
            } else if (v.is_object()) {
                // Judge verdicts: {"scores": {"helpfulness": 4, ...}, "overall": 0.9}.
                for (const auto& [k2, v2] : v.items()) {
                    if (v2.is_number()) {
                        add_number(k + "." + k2, v2.get<double>());
                    } else if (k2 == "scores" && v2.is_object()) {
                        for (const auto& [k3, v3] : v2.items())
                            if (v3.is_number()) add_number(k + "." + k2 + "." + k3, v3.get<double>());
                    }
                }
            }
        }
        if (o.samples == 0) return;
        uint64_t key = mix64(seed_mix ^ row);
        if (picks.size() < o.samples) {
            picks.push_back({key, row, shorten_for_display(rec, o.sample_chars)});
            std::push_heap(picks.begin(), picks.end(), by_key);
        } else if (key < picks.front().key) {
            std::pop_heap(picks.begin(), picks.end(), by_key);
            picks.back() = {key, row, shorten_for_display(rec, o.sample_chars)};
            std::push_heap(picks.begin(), picks.end(), by_key);
        }
    });
    d.rows = scanned.rows;
    d.bad_records = scanned.bad;
    if (scanned.bad)
        d.flags.push_back(
            {"input", "bad_records",
             fmt::format("{} record{} could not be read and {} left out (first: {})", scanned.bad,
                         scanned.bad == 1 ? "" : "s", scanned.bad == 1 ? "is" : "are", scanned.first_bad)});
    std::sort(picks.begin(), picks.end(), [](const Pick& a, const Pick& b) { return a.row < b.row; });
    for (auto& p : picks) d.samples.push_back({p.row, std::move(p.record)});

    // Text fields: the named ones, or every string column averaging >= 3 words.
    for (auto& c : cols.all())
        if (c.top_level) d.columns.push_back(c.name);
    std::string main_name = given_main;
    if (d.fields_given) {
        for (const auto& f : o.fields) {
            ColumnAcc* c = cols.find(f);
            if (!c || c->words.empty()) {
                std::string names;
                for (const auto& n : d.columns) names += (names.empty() ? "" : ", ") + n;
                throw UserError(fmt::format("--field {}: no row of {} has a string in that column (columns: {})", f,
                                            o.input.string(), names.empty() ? "none" : names));
            }
        }
    } else {
        double best = -1;
        for (auto& c : cols.all()) {
            if (c.words.empty() || c.numeric_csv()) continue;
            if (c.mean_words() >= kMinMeanWords) {
                if (c.mean_words() > best) best = c.mean_words(), main_name = c.name;
            } else {
                d.short_columns.push_back({c.name, c.mean_words()});
            }
        }
    }
    auto add_field = [&](ColumnAcc& c) {
        TextField f;
        f.name = c.name;
        f.main = c.name == main_name;
        f.missing = d.rows - c.words.size();
        f.words = distribution({c.words.begin(), c.words.end()}, o.max_bins);
        f.chars = distribution({c.chars.begin(), c.chars.end()}, o.max_bins);
        d.text_fields.push_back(std::move(f));
    };
    if (d.fields_given) {
        for (const auto& f : o.fields)
            if (std::none_of(d.text_fields.begin(), d.text_fields.end(),
                             [&](const TextField& t) { return t.name == f; }))
                add_field(*cols.find(f));
    } else {
        for (auto& c : cols.all())
            if (!c.words.empty() && !c.numeric_csv() && c.mean_words() >= kMinMeanWords) add_field(c);
    }

    // Numeric columns (and CSV columns that are all numbers), ids left out.
    for (auto& c : cols.all()) {
        if (is_id_like(c.name)) continue;
        std::vector<double> values = std::move(c.numbers);
        if (csv && c.numeric_csv()) values.insert(values.end(), c.csv_numbers.begin(), c.csv_numbers.end());
        if (values.empty()) continue;
        NumericColumn n;
        n.name = c.name;
        n.missing = d.rows - values.size();
        n.values = distribution(std::move(values), o.max_bins);
        d.numeric.push_back(std::move(n));
    }

    // Leakage columns: an object column holding both rougel and common_run is a leakage
    // block's output; its distances to the closest record get a section of their own.
    for (const auto& n : d.numeric) {
        if (!n.name.ends_with(".rougel")) continue;
        const std::string column = n.name.substr(0, n.name.size() - 7);
        auto run = std::find_if(d.numeric.begin(), d.numeric.end(),
                                [&](const NumericColumn& c) { return c.name == column + ".common_run"; });
        if (run == d.numeric.end()) continue;
        LeakageSection l;
        l.column = column;
        std::vector<double> distance;
        for (double f1 : n.values.values) distance.push_back(1.0 - f1);
        l.near_copies = static_cast<uint64_t>(
            std::count_if(distance.begin(), distance.end(), [](double x) { return x <= kNearCopyDistance; }));
        l.long_runs = static_cast<uint64_t>(std::count_if(run->values.values.begin(), run->values.values.end(),
                                                          [](double x) { return x >= kLongRunTokens; }));
        l.distance = distribution(std::move(distance), o.max_bins);
        l.common_run = distribution(run->values.values, o.max_bins);
        if (l.near_copies)
            d.flags.push_back({"leakage", column,
                               fmt::format("{} of {} rows are within ROUGE-L distance {} of a private or seed record",
                                           l.near_copies, l.distance.stats.count, kNearCopyDistance)});
        d.leakage.push_back(std::move(l));
    }

    // Diversity of the main field; its texts need a second pass unless --field named it.
    const TextField* main = d.main_field();
    if (main && main_texts.empty())
        scan(o.input, o.input_format, [&](const Record& rec, uint64_t) {
            auto it = rec.find(main_name);
            if (it != rec.end() && it->is_string()) main_texts.push_back(it->get<std::string>());
        });
    if (main && main->missing)
        d.flags.push_back(
            {"input", "missing",
             fmt::format("{} of {} rows have no text in the main field '{}'", main->missing, d.rows, main_name)});
    if (!main_texts.empty()) {
        DiversitySection div;
        div.field = main_name;
        text::DiversityOptions dopt;
        dopt.sample_size = o.diversity_sample;
        dopt.seed = o.seed;
        auto v = views(main_texts);
        div.metrics = text::diversity_metrics(v, dopt);
        std::unordered_set<std::string_view> seen;
        for (auto t : v)
            if (!seen.insert(t).second) ++div.duplicate_texts;
        for (const auto& f : div.metrics.flags) d.flags.push_back({"diversity", f.metric, f.message});
        d.diversity = std::move(div);
    }

    // Similarity to the reference, on the main field's texts.
    if (!o.reference.empty()) {
        ReferenceInfo info;
        std::vector<std::string> ref_texts = read_reference(o, main_name, info);
        if (info.bad_records)
            d.flags.push_back({"reference", "bad_records",
                               fmt::format("{} record{} of the reference could not be read and were left out",
                                           info.bad_records, info.bad_records == 1 ? "" : "s")});
        if (main_texts.empty()) {
            d.similarity_note = "the input has no main text field to compare with the reference";
        } else if (ref_texts.empty()) {
            d.similarity_note = "the reference has no texts";
        } else {
            SimilaritySection sim;
            sim.synthetic_field = main_name;
            sim.reference_field = info.field;
            auto sv = views(main_texts), rv = views(ref_texts);
            sim.metrics = text::similarity_to_reference(sv, rv);
            std::vector<double> rw;
            rw.reserve(ref_texts.size());
            for (const auto& t : ref_texts) rw.push_back(static_cast<double>(text::split_words(t).size()));
            std::sort(rw.begin(), rw.end());
            const std::vector<double>& sw = main->words.values;
            std::vector<double> both;
            both.reserve(sw.size() + rw.size());
            std::merge(sw.begin(), sw.end(), rw.begin(), rw.end(), std::back_inserter(both));
            sim.binning = choose_binning(both, o.max_bins);
            sim.synthetic_bins = histogram(sim.binning, sw);
            sim.reference_bins = histogram(sim.binning, rw);
            sim.synthetic_words = main->words.stats;
            sim.reference_words = summarize(rw);
            d.similarity = std::move(sim);
        }
        d.reference = std::move(info);
    }

    if (!o.run_dir.empty()) {
        d.run = read_run(o);
        if (d.run->status != "complete")
            d.flags.push_back({"run", "status",
                               fmt::format("the run's status is '{}', not 'complete': its counts and rejects cover "
                                           "the finished batches only",
                                           d.run->status)});
    }
    return d;
}

}  // namespace synthforge::report
