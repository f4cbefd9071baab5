// Builds the --json document from the report data. Keys are stable: scripts read them.
#include "report/metrics_json.h"

namespace synthforge::report {

namespace {

Json summary_json(const Summary& s) {
    return {{"count", s.count},   {"mean", s.mean}, {"stddev", s.stddev}, {"min", s.min}, {"p25", s.p25},
            {"median", s.median}, {"p75", s.p75},   {"p99", s.p99},       {"max", s.max}};
}

Json bins_json(const std::vector<Bin>& bins) {
    Json out = Json::array();
    for (const auto& b : bins) out.push_back({{"from", b.from}, {"to", b.to}, {"count", b.count}});
    return out;
}

Json diversity_json(const DiversitySection& s) {
    const auto& m = s.metrics;
    Json first = Json::array();
    for (const auto& f : m.first_words) first.push_back({{"words", f.words}, {"count", f.count}, {"share", f.share}});
    Json flags = Json::array();
    for (const auto& f : m.flags) flags.push_back({{"metric", f.metric}, {"message", f.message}});
    return {{"field", s.field},
            {"texts", m.texts},
            {"tokens", m.tokens},
            {"vocabulary", m.vocabulary},
            {"distinct_1", m.distinct_1},
            {"distinct_2", m.distinct_2},
            {"distinct_3", m.distinct_3},
            {"entropy_1", m.entropy_1},
            {"entropy_2", m.entropy_2},
            {"entropy_3", m.entropy_3},
            {"self_bleu", m.self_bleu},
            {"self_bleu_sample", m.self_bleu_sample},
            {"mean_pairwise_rougel", m.mean_pairwise_rougel},
            {"rougel_pairs", m.rougel_pairs},
            {"duplicate_texts", s.duplicate_texts},
            {"distinct_first_words", m.distinct_first_words},
            {"first_words", first},
            {"flags", flags}};
}

Json similarity_json(const SimilaritySection& s) {
    const auto& m = s.metrics;
    uint64_t syn_total = 0, ref_total = 0;
    for (const auto& b : s.synthetic_bins) syn_total += b.count;
    for (const auto& b : s.reference_bins) ref_total += b.count;
    auto share = [](uint64_t n, uint64_t total) { return total ? static_cast<double>(n) / total : 0.0; };
    Json bins = Json::array();
    for (size_t i = 0; i < s.synthetic_bins.size(); ++i) {
        const auto& a = s.synthetic_bins[i];
        const auto& b = s.reference_bins[i];
        bins.push_back({{"from", a.from},
                        {"to", a.to},
                        {"synthetic", a.count},
                        {"reference", b.count},
                        {"synthetic_share", share(a.count, syn_total)},
                        {"reference_share", share(b.count, ref_total)}});
    }
    return {{"synthetic_field", s.synthetic_field},
            {"reference_field", s.reference_field},
            {"synthetic_texts", m.synthetic_texts},
            {"reference_texts", m.reference_texts},
            {"jsd_unigram", m.jsd_unigram},
            {"jsd_bigram", m.jsd_bigram},
            {"ks_length", m.ks_length},
            {"ks_length_p_value", m.ks_length_p_value},
            {"tfidf_centroid_cosine", m.tfidf_centroid_cosine},
            {"synthetic_words", summary_json(s.synthetic_words)},
            {"reference_words", summary_json(s.reference_words)},
            {"length_histogram",
             {{"discrete", s.binning.discrete}, {"overflow", s.binning.clip.has_value()}, {"bins", bins}}}};
}

Json run_json(const RunSection& r) {
    Json blocks = Json::array();
    for (const auto& b : r.blocks)
        blocks.push_back({{"name", b.name},
                          {"type", b.type},
                          {"rows_in", b.rows_in},
                          {"rows_out", b.rows_out},
                          {"rows_rejected", b.rows_rejected}});
    Json by = Json::array();
    for (const auto& [block, n] : r.rejected_by) by.push_back({{"block", block}, {"rows", n}});
    Json reasons = Json::array();
    for (const auto& g : r.reasons)
        reasons.push_back({{"block", g.block}, {"reason", g.reason}, {"count", g.count}, {"example", g.example}});
    Json other = Json::array();
    for (const auto& g : r.other) other.push_back({{"block", g.block}, {"reasons", g.reasons}, {"rows", g.rows}});
    auto count = [&](uint64_t v) { return r.has_counts ? Json(v) : Json(nullptr); };
    return {{"run_dir", r.dir.string()},
            {"flow", r.flow},
            {"status", r.status},
            {"rows_in", count(r.rows_in)},
            {"rows_out", count(r.rows_out)},
            {"rows_rejected", count(r.rows_rejected)},
            {"input_rows_rejected", count(r.input_rows_rejected)},
            {"blocks", blocks},
            {"rejects_file_found", r.rejects_found},
            {"rejects_read", r.rejects_read},
            {"rejected_by", by},
            {"reasons", reasons},
            {"other_reasons", other}};
}

}  // namespace

Json distribution_json(const Distribution& d) {
    Json j = summary_json(d.stats);
    j["histogram"] = {
        {"discrete", d.binning.discrete}, {"overflow", d.binning.clip.has_value()}, {"bins", bins_json(d.bins)}};
    return j;
}

Json metrics_json(const ReportData& d) {
    const auto& o = d.options;
    Json j;
    j["synthforge_version"] = SYNTHFORGE_VERSION;
    j["input"] = {{"path", o.input.string()},
                  {"format", d.input_format},
                  {"rows", d.rows},
                  {"bad_records", d.bad_records},
                  {"columns", d.columns}};
    j["options"] = {{"fields", o.fields},
                    {"seed", o.seed},
                    {"samples", o.samples},
                    {"max_bins", o.max_bins},
                    {"diversity_sample", o.diversity_sample},
                    {"max_reasons", o.max_reasons}};
    Json flags = Json::array();
    for (const auto& f : d.flags)
        flags.push_back({{"section", f.section}, {"metric", f.metric}, {"message", f.message}});
    j["flags"] = flags;

    Json fields = Json::array();
    for (const auto& f : d.text_fields)
        fields.push_back({{"name", f.name},
                          {"main", f.main},
                          {"rows", f.words.stats.count},
                          {"missing", f.missing},
                          {"words", distribution_json(f.words)},
                          {"chars", distribution_json(f.chars)}});
    j["text_fields"] = fields;
    Json short_cols = Json::array();
    for (const auto& c : d.short_columns) short_cols.push_back({{"name", c.name}, {"mean_words", c.mean_words}});
    j["short_columns"] = short_cols;

    Json numeric = Json::array();
    for (const auto& n : d.numeric) {
        Json e = {{"name", n.name}, {"missing", n.missing}};
        e.update(distribution_json(n.values));
        numeric.push_back(std::move(e));
    }
    j["numeric_columns"] = numeric;

    Json leakage = Json::array();
    for (const auto& l : d.leakage)
        leakage.push_back({{"column", l.column},
                           {"distance_to_closest_record", distribution_json(l.distance)},
                           {"common_run", distribution_json(l.common_run)},
                           {"near_copies", l.near_copies},
                           {"near_copy_distance", kNearCopyDistance},
                           {"long_runs", l.long_runs},
                           {"long_run_tokens", kLongRunTokens}});
    j["leakage"] = leakage;

    j["diversity"] = d.diversity ? diversity_json(*d.diversity) : Json(nullptr);
    if (d.reference) {
        const auto& r = *d.reference;
        j["reference"] = {{"path", r.path.string()}, {"format", r.format},
                          {"rows", r.rows},          {"bad_records", r.bad_records},
                          {"field", r.field},        {"field_is_fallback", r.field_is_fallback},
                          {"texts", r.texts}};
    } else {
        j["reference"] = nullptr;
    }
    j["similarity"] = d.similarity ? similarity_json(*d.similarity) : Json(nullptr);
    j["rejections"] = d.run ? run_json(*d.run) : Json(nullptr);

    Json samples = Json::array();
    for (const auto& s : d.samples) samples.push_back({{"row", s.row}, {"record", s.record}});
    j["samples"] = samples;
    return j;
}

}  // namespace synthforge::report
