// synthforge._synthforge: the C++ library seen from Python. Thin on purpose: arguments are
// converted while holding the GIL, the C++ work runs without it (so other Python threads go
// on during a long run or a dedup over a million texts), and the results are converted back.
// The friendlier surface (DataFrames, inputs given as rows) is python/synthforge/__init__.py.
#include "json_convert.h"
#include "synthforge/data/reader.h"
#include "synthforge/data/writer.h"
#include "synthforge/engine/executor.h"
#include "synthforge/engine/flow.h"
#include "synthforge/engine/plugin.h"
#include "synthforge/errors.h"
#include "synthforge/privacy/pii.h"
#include "synthforge/text/diversity.h"
#include "synthforge/text/minhash.h"
#include "synthforge/text/normalize.h"
#include "synthforge/text/rouge.h"
#include "synthforge/text/similarity.h"
#include "synthforge/version.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace py = pybind11;
using namespace synthforge;

namespace {

// Texts are copied out of the Python strings before the GIL is released: the C++ side
// must not look at Python objects another thread may be changing.
std::vector<std::string> texts_from(const py::handle& texts, const char* argument) {
    if (PyUnicode_Check(texts.ptr()))
        throw py::type_error(std::string(argument) + ": expected a list of strings, got one string");
    std::vector<std::string> out;
    size_t i = 0;
    for (auto t : py::iter(texts)) {
        if (!PyUnicode_Check(t.ptr()))
            throw py::type_error(std::string(argument) + "[" + std::to_string(i) + "]: expected a string, got " +
                                 py::str(py::type::of(t).attr("__name__")).cast<std::string>());
        out.push_back(t.cast<std::string>());
        ++i;
    }
    return out;
}

std::vector<std::string_view> views(const std::vector<std::string>& texts) {
    return {texts.begin(), texts.end()};
}

TextUnit text_unit_from(const std::string& name) {
    if (name == "line") return TextUnit::line;
    if (name == "paragraph") return TextUnit::paragraph;
    if (name == "document") return TextUnit::document;
    throw UserError("text_unit: expected line, paragraph or document, got '" + name + "'");
}

py::list records_to_python(const std::vector<Record>& records) {
    py::list out(records.size());
    for (size_t i = 0; i < records.size(); ++i) out[i] = python::to_python(records[i]);
    return out;
}

py::dict summary_to_python(const RunSummary& s) {
    py::list blocks;
    for (const auto& b : s.blocks) {
        py::dict d;
        d["name"] = b.name;
        d["type"] = b.type;
        d["rows_in"] = b.rows_in;
        d["rows_out"] = b.rows_out;
        d["rows_rejected"] = b.rows_rejected;
        d["seconds"] = b.seconds;
        blocks.append(d);
    }
    py::dict d;
    d["run_dir"] = s.run_dir.string();
    d["output"] = s.output.string();
    d["rejects"] = s.rejects.string();
    d["rows_in"] = s.rows_in;
    d["rows_out"] = s.rows_out;
    d["rows_rejected"] = s.rows_rejected;
    d["resumed"] = s.resumed;
    d["seconds"] = s.seconds;
    d["llm_failures"] = s.llm_failures;
    d["blocks"] = blocks;
    return d;
}

py::dict run(const std::string& flow_path, const std::vector<std::string>& inputs, const py::dict& params,
             const std::string& run_dir, uint64_t seed, const std::string& output, const std::string& input_format,
             const std::string& text_unit, bool skip_bad_records, size_t batch_size, bool resume,
             const std::vector<std::string>& plugins, const std::vector<std::string>& allow_paths) {
    if (run_dir.empty()) throw UserError("run_dir: a run directory is required");
    if (batch_size == 0) throw UserError("batch_size: must be at least 1");
    FlowOptions fo;
    for (const auto& p : allow_paths) fo.allowed_paths.emplace_back(p);
    // A parameter's value goes in as JSON text, which is also YAML, so it keeps its type
    // exactly as `--set NAME=VALUE` would read it (a string stays a string, even "yes").
    for (auto [k, v] : params) {
        const std::string name = py::str(k).cast<std::string>();
        fo.overrides[name] = python::from_python(v, "params['" + name + "']").dump();
    }
    RunOptions ro;
    for (const auto& i : inputs) ro.inputs.emplace_back(i);
    ro.input_format = input_format;
    ro.text_unit = text_unit_from(text_unit);
    ro.skip_bad_records = skip_bad_records;
    ro.output = output;
    ro.run_dir = run_dir;
    ro.resume = resume;
    ro.seed = seed;
    ro.batch_size = batch_size;
    // Ctrl-C in Python: the executor stops between batches with everything so far
    // committed (a resumable run), instead of the signal waiting for the whole run.
    std::atomic<bool> stop{false};
    ro.stop_requested = &stop;
    ro.on_progress = [&stop](const Progress&) {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) {
            PyErr_Clear();
            stop = true;
        }
    };
    RunSummary summary;
    {
        py::gil_scoped_release nogil;
        for (const auto& p : plugins) load_plugin(p);
        Flow flow = load_flow(flow_path, fo);
        summary = run_flow(flow, ro);
    }
    return summary_to_python(summary);
}

std::vector<size_t> dedup_exact(const std::vector<std::string>& texts, const text::NormalizeOptions& options,
                                bool normalize) {
    std::vector<size_t> kept;
    std::unordered_set<std::string> seen;
    for (size_t i = 0; i < texts.size(); ++i)
        if (seen.insert(normalize ? text::normalize(texts[i], options) : texts[i]).second) kept.push_back(i);
    return kept;
}

std::vector<size_t> dedup_minhash(const std::vector<std::string>& texts, double threshold, size_t num_perm,
                                  size_t ngram, const std::string& shingle, uint64_t seed, size_t bands, size_t rows) {
    // The same checks and defaults as the dedup_minhash block, so a threshold tried here
    // behaves the same in a flow.
    if (!(threshold > 0.0 && threshold <= 1.0)) throw UserError("threshold: must be in (0, 1]");
    if (num_perm == 0) throw UserError("num_perm: must be at least 1");
    if (ngram == 0) throw UserError("ngram: must be at least 1");
    if (shingle != "word" && shingle != "char")
        throw UserError("shingle: expected word or char, got '" + shingle + "'");
    if ((bands == 0) != (rows == 0)) throw UserError("bands, rows: set both, or neither to have them chosen");
    if (bands * rows > num_perm) throw UserError("bands: bands * rows exceeds num_perm");
    const auto kind = shingle == "char" ? text::ShingleKind::character : text::ShingleKind::word;
    text::LshParams lsh =
        bands ? text::LshParams{bands, rows} : text::optimal_lsh_params(threshold, num_perm, 0.1, 0.9);
    text::MinHasher hasher(num_perm, seed);
    text::MinHashIndex index(hasher, lsh, threshold);
    std::vector<size_t> kept;
    for (size_t i = 0; i < texts.size(); ++i)
        if (index.query_or_add(text::shingle_hashes(texts[i], kind, ngram)).item == text::MinHashIndex::npos)
            kept.push_back(i);
    return kept;
}

std::vector<size_t> dedup_rougel(const std::vector<std::string>& texts, double threshold) {
    if (!(threshold >= 0.0 && threshold <= 1.0)) throw UserError("threshold: must be in [0, 1]");
    text::TokenVocab vocab;
    text::RougeLIndex index;
    std::vector<size_t> kept;
    for (size_t i = 0; i < texts.size(); ++i) {
        std::vector<uint32_t> tokens = vocab.encode(texts[i]);
        if (index.any_above(tokens, threshold)) continue;
        index.add(std::move(tokens));
        kept.push_back(i);
    }
    return kept;
}

// Code points before byte offset `bytes`: Python indexes str by code point.
size_t char_offset(std::string_view text, size_t bytes) {
    size_t n = 0;
    for (size_t i = 0; i < bytes && i < text.size(); ++i)
        if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++n;
    return n;
}

py::list findings_to_python(std::string_view text, const std::vector<privacy::Finding>& findings) {
    py::list out;
    for (const auto& f : findings) {
        py::dict d;
        d["type"] = f.type;
        d["kind"] = f.kind;
        d["start"] = char_offset(text, f.start);
        d["end"] = char_offset(text, f.end);
        d["byte_start"] = f.start;
        d["byte_end"] = f.end;
        d["text"] = f.text;
        d["score"] = f.score;
        out.append(d);
    }
    return out;
}

// One object holding the compiled patterns, reused for every text (compiling the RE2 set
// costs far more than scanning a sentence).
class PiiScanner {
  public:
    PiiScanner(std::vector<std::string> entities, std::vector<std::string> phone_regions, double min_score,
               const py::list& patterns, const py::list& deny_lists) {
        privacy::ScannerOptions o;
        o.entities = std::move(entities);
        o.phone_regions = phone_regions;
        o.min_score = min_score;
        for (auto p : patterns) {
            auto d = p.cast<py::dict>();
            privacy::CustomPattern c;
            c.name = d["name"].cast<std::string>();
            c.regex = d["regex"].cast<std::string>();
            if (d.contains("score")) c.score = d["score"].cast<double>();
            if (d.contains("context")) c.context = d["context"].cast<std::vector<std::string>>();
            o.patterns.push_back(std::move(c));
        }
        for (auto l : deny_lists) {
            auto d = l.cast<py::dict>();
            privacy::DenyList c;
            c.name = d["name"].cast<std::string>();
            c.terms = d["terms"].cast<std::vector<std::string>>();
            if (d.contains("case_sensitive")) c.case_sensitive = d["case_sensitive"].cast<bool>();
            if (d.contains("score")) c.score = d["score"].cast<double>();
            o.deny_lists.push_back(std::move(c));
        }
        phone_regions_ = std::move(phone_regions);
        scanner_ = std::make_unique<privacy::Scanner>(std::move(o));
    }

    py::list scan(const std::string& text) const {
        std::vector<privacy::Finding> f;
        {
            py::gil_scoped_release nogil;
            f = scanner_->scan(text);
        }
        return findings_to_python(text, f);
    }

    py::list scan_many(const py::handle& texts) const {
        std::vector<std::string> t = texts_from(texts, "texts");
        std::vector<std::vector<privacy::Finding>> f(t.size());
        {
            py::gil_scoped_release nogil;
            for (size_t i = 0; i < t.size(); ++i) f[i] = scanner_->scan(t[i]);
        }
        py::list out;
        for (size_t i = 0; i < t.size(); ++i) out.append(findings_to_python(t[i], f[i]));
        return out;
    }

    std::vector<std::string> redact_many(const py::handle& texts, const std::string& placeholder, bool surrogate,
                                         uint64_t seed) const {
        std::vector<std::string> t = texts_from(texts, "texts");
        privacy::RedactOptions ro;
        ro.placeholder = placeholder;
        ro.surrogate = surrogate;
        ro.seed = seed;
        ro.phone_regions = phone_regions_;
        py::gil_scoped_release nogil;
        privacy::Redactor redactor(ro);
        std::vector<std::string> out;
        out.reserve(t.size());
        for (const auto& s : t) out.push_back(redactor.redact(s, scanner_->scan(s)));
        return out;
    }

  private:
    std::vector<std::string> phone_regions_;
    std::unique_ptr<privacy::Scanner> scanner_;
};

py::dict diversity(const py::handle& texts_in, size_t sample_size, uint64_t seed, size_t first_words,
                   size_t top_first_words) {
    std::vector<std::string> texts = texts_from(texts_in, "texts");
    text::DiversityOptions o;
    o.sample_size = sample_size;
    o.seed = seed;
    o.first_words = first_words;
    o.top_first_words = top_first_words;
    text::DiversityMetrics m;
    {
        py::gil_scoped_release nogil;
        m = text::diversity_metrics(views(texts), o);
    }
    py::dict d;
    d["texts"] = m.texts;
    d["empty_texts"] = m.empty_texts;
    d["tokens"] = m.tokens;
    d["vocabulary"] = m.vocabulary;
    d["distinct_1"] = m.distinct_1;
    d["distinct_2"] = m.distinct_2;
    d["distinct_3"] = m.distinct_3;
    d["entropy_1"] = m.entropy_1;
    d["entropy_2"] = m.entropy_2;
    d["entropy_3"] = m.entropy_3;
    d["self_bleu"] = m.self_bleu;
    d["self_bleu_sample"] = m.self_bleu_sample;
    d["mean_pairwise_rougel"] = m.mean_pairwise_rougel;
    d["rougel_pairs"] = m.rougel_pairs;
    py::list fw;
    for (const auto& f : m.first_words) {
        py::dict e;
        e["words"] = f.words;
        e["count"] = f.count;
        e["share"] = f.share;
        fw.append(e);
    }
    d["first_words"] = fw;
    d["distinct_first_words"] = m.distinct_first_words;
    py::list flags;
    for (const auto& f : m.flags) {
        py::dict e;
        e["metric"] = f.metric;
        e["message"] = f.message;
        flags.append(e);
    }
    d["flags"] = flags;
    return d;
}

py::dict similarity(const py::handle& synthetic_in, const py::handle& reference_in) {
    std::vector<std::string> synthetic = texts_from(synthetic_in, "synthetic");
    std::vector<std::string> reference = texts_from(reference_in, "reference");
    text::SimilarityMetrics m;
    {
        py::gil_scoped_release nogil;
        m = text::similarity_to_reference(views(synthetic), views(reference));
    }
    py::dict d;
    d["synthetic_texts"] = m.synthetic_texts;
    d["reference_texts"] = m.reference_texts;
    d["jsd_unigram"] = m.jsd_unigram;
    d["jsd_bigram"] = m.jsd_bigram;
    d["ks_length"] = m.ks_length;
    d["ks_length_p_value"] = m.ks_length_p_value;
    d["tfidf_centroid_cosine"] = m.tfidf_centroid_cosine;
    return d;
}

}  // namespace

PYBIND11_MODULE(_synthforge, m) {
    m.doc() = "synthforge's C++ engine; use the `synthforge` package, which wraps it";
    m.attr("__version__") = SYNTHFORGE_VERSION;

    // The library's error classes, so `except synthforge.ConfigError` works and the message
    // (naming the file, line, block and field) is the C++ one, unchanged.
    static py::exception<UserError> user_error(m, "UserError", PyExc_ValueError);
    static py::exception<ConfigError> config_error(m, "ConfigError", user_error.ptr());
    static py::exception<InputError> input_error(m, "InputError", user_error.ptr());
    static py::exception<RunError> run_error(m, "RunError", PyExc_RuntimeError);
    static py::exception<RunInterrupted> run_interrupted(m, "RunInterrupted", PyExc_KeyboardInterrupt);
    // Translators run newest first, so each derived class is registered after its base.
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const ConfigError& e) {
            PyErr_SetString(config_error.ptr(), e.what());
        } catch (const InputError& e) {
            PyErr_SetString(input_error.ptr(), e.what());
        } catch (const UserError& e) {
            PyErr_SetString(user_error.ptr(), e.what());
        } catch (const RunError& e) {
            PyErr_SetString(run_error.ptr(), e.what());
        } catch (const RunInterrupted& e) {
            PyErr_SetString(run_interrupted.ptr(), e.what());
        }
    });

    m.def("run", &run, py::arg("flow"), py::arg("inputs"), py::arg("params"), py::arg("run_dir"), py::arg("seed"),
          py::arg("output"), py::arg("input_format"), py::arg("text_unit"), py::arg("skip_bad_records"),
          py::arg("batch_size"), py::arg("resume"), py::arg("plugins"), py::arg("allow_paths"),
          "Runs a flow file to completion; returns the run summary (output and rejects paths, counts)");

    m.def(
        "read_records",
        [](const std::filesystem::path& path, const std::string& format, const std::string& text_unit,
           bool skip_bad_records) {
            ReadOptions o;
            o.format = format;
            o.text_unit = text_unit_from(text_unit);
            o.skip_bad_records = skip_bad_records;
            std::vector<Record> records;
            {
                py::gil_scoped_release nogil;
                records = read_all(path, o);
            }
            return records_to_python(records);
        },
        py::arg("path"), py::arg("format") = "", py::arg("text_unit") = "line", py::arg("skip_bad_records") = false);

    m.def(
        "write_records",
        [](const std::filesystem::path& path, const py::handle& rows, const std::string& format,
           std::vector<std::string> csv_columns) {
            std::vector<Record> records;
            size_t i = 0;
            for (auto row : py::iter(rows)) {
                std::string where = "rows[" + std::to_string(i++) + "]";
                if (!PyDict_Check(row.ptr())) throw py::type_error(where + ": expected a dict");
                records.push_back(python::from_python(row, where));
            }
            py::gil_scoped_release nogil;
            WriteOptions wo;
            wo.csv_columns = std::move(csv_columns);
            auto writer = open_writer(path, resolve_format(path, format), wo);
            for (const auto& r : records) writer->write(r);
            writer->commit();
            return records.size();
        },
        py::arg("path"), py::arg("rows"), py::arg("format") = "", py::arg("csv_columns") = std::vector<std::string>{});

    m.def(
        "dedup_exact",
        [](const py::handle& texts, bool lowercase, bool collapse_whitespace, bool strip_punctuation) {
            std::vector<std::string> t = texts_from(texts, "texts");
            text::NormalizeOptions o{lowercase, collapse_whitespace, strip_punctuation};
            py::gil_scoped_release nogil;
            return dedup_exact(t, o, lowercase || collapse_whitespace || strip_punctuation);
        },
        py::arg("texts"), py::arg("lowercase") = true, py::arg("collapse_whitespace") = true,
        py::arg("strip_punctuation") = false);

    m.def(
        "dedup_minhash",
        [](const py::handle& texts, double threshold, size_t num_perm, size_t ngram, const std::string& shingle,
           uint64_t seed, size_t bands, size_t rows) {
            std::vector<std::string> t = texts_from(texts, "texts");
            py::gil_scoped_release nogil;
            return dedup_minhash(t, threshold, num_perm, ngram, shingle, seed, bands, rows);
        },
        py::arg("texts"), py::arg("threshold") = 0.8, py::arg("num_perm") = 128, py::arg("ngram") = 5,
        py::arg("shingle") = "word", py::arg("seed") = 1, py::arg("bands") = 0, py::arg("rows") = 0);

    m.def(
        "dedup_rougel",
        [](const py::handle& texts, double threshold) {
            std::vector<std::string> t = texts_from(texts, "texts");
            py::gil_scoped_release nogil;
            return dedup_rougel(t, threshold);
        },
        py::arg("texts"), py::arg("threshold") = 0.7);

    m.def(
        "rouge_l", [](std::string_view a, std::string_view b) { return text::rouge_l_f1(a, b); }, py::arg("target"),
        py::arg("prediction"));
    m.def(
        "shingle_jaccard",
        [](std::string_view a, std::string_view b, size_t ngram, const std::string& shingle) {
            if (ngram == 0) throw UserError("ngram: must be at least 1");
            const auto kind = shingle == "char" ? text::ShingleKind::character : text::ShingleKind::word;
            return text::jaccard(text::shingle_hashes(a, kind, ngram), text::shingle_hashes(b, kind, ngram));
        },
        py::arg("a"), py::arg("b"), py::arg("ngram") = 5, py::arg("shingle") = "word");

    py::class_<PiiScanner>(m, "PiiScanner")
        .def(py::init<std::vector<std::string>, std::vector<std::string>, double, py::list, py::list>(),
             py::arg("entities") = std::vector<std::string>{},
             py::arg("phone_regions") = std::vector<std::string>{"US"}, py::arg("min_score") = 0.5,
             py::arg("patterns") = py::list(), py::arg("deny_lists") = py::list())
        .def("scan", &PiiScanner::scan, py::arg("text"))
        .def("scan_many", &PiiScanner::scan_many, py::arg("texts"))
        .def("redact_many", &PiiScanner::redact_many, py::arg("texts"), py::arg("placeholder") = "<{type}>",
             py::arg("surrogate") = false, py::arg("seed") = 0);
    m.def("pii_entity_types", &privacy::builtin_entity_types);

    m.def("diversity_metrics", &diversity, py::arg("texts"), py::arg("sample_size") = 500, py::arg("seed") = 0,
          py::arg("first_words") = 2, py::arg("top_first_words") = 20);
    m.def("similarity_to_reference", &similarity, py::arg("synthetic"), py::arg("reference"));
}
