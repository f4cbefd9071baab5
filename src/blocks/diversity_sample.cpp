// diversity_sample: keeps k rows chosen to cover the topics of the input instead of
// mirroring its imbalance. Each row's text becomes a TF-IDF vector; text::cluster_topics()
// groups the vectors into topics (spherical k-means, then similar clusters merged, so small
// distinct topics survive next to a large one); then `cluster_balanced` takes an equal share
// from every topic, `max_diversity` takes the most spread-out rows (greedy farthest point),
// and `random` a uniform sample. It is a barrier: it sees every row first, and the output
// keeps the input order. Every row left out is rejected with the reason, and the topic
// balance before and after (cluster sizes, entropy) goes to metadata.json through metrics().
//
// The choice is a function of the rows, the config and the seed only (see text/tfidf.h and
// seeded_rng.h), so a resumed run re-derives exactly the same selection.

#include "engine/schema_check.h"
#include "seeded_rng.h"
#include "synthforge/engine/registry.h"
#include "synthforge/engine/template.h"
#include "synthforge/errors.h"
#include "synthforge/text/tfidf.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["k"],
  "properties": {
    "k": {"type": "integer", "minimum": 0,
          "description": "How many rows to keep; all rows are kept when there are k or fewer"},
    "field": {"type": "string", "minLength": 1,
              "description": "The text compared: a column name, or a Jinja template over the row such as \"{{ instruction }} {{ input }}\""},
    "vector_column": {"type": "string", "minLength": 1,
                      "description": "Instead of field: a column holding each row's embedding (from the embed block); rows are compared by cosine of these vectors"},
    "strategy": {"enum": ["random", "cluster_balanced", "max_diversity"], "default": "cluster_balanced",
                 "description": "cluster_balanced: an equal share of k from every k-means topic; max_diversity: greedy farthest-point (most spread-out rows); random: uniform"},
    "clusters": {"type": "integer", "minimum": 0, "maximum": 10000, "default": 0,
                 "description": "Topics (k-means clusters); 0: round(sqrt(k)) between 1 and 100; never more than the distinct rows"},
    "seed": {"type": "integer",
             "description": "Seed of every random choice (default: the run's --seed); same seed + same input = same selection"},
    "cluster_column": {"type": "string", "default": "",
                       "description": "Column that receives each kept row's cluster number (0-based); none when empty"},
    "max_features": {"type": "integer", "minimum": 1, "default": 10000,
                     "description": "TF-IDF vocabulary: the words found in the most rows, at most this many"},
    "max_iterations": {"type": "integer", "minimum": 1, "default": 50,
                       "description": "k-means stops after this many rounds if rows still change cluster"}
  }
})json";

enum class Strategy { random, cluster_balanced, max_diversity };

// k-means runs with twice the clusters before similar ones merge (see cluster_topics()).
constexpr size_t kOversplit = 2;
constexpr size_t kMinFitSample = 20000;
constexpr size_t kMaxAutoClusters = 100;

// Default number of topics: round(sqrt(k)), at least 1 and at most 100; so a share is
// about sqrt(k) rows, and topics stay few enough to be read in metadata.json.
size_t auto_clusters(size_t k) {
    const auto c = static_cast<size_t>(std::llround(std::sqrt(static_cast<double>(k))));
    return std::clamp<size_t>(c, 1, kMaxAutoClusters);
}

const char* strategy_name(Strategy s) {
    switch (s) {
        case Strategy::random:
            return "random";
        case Strategy::cluster_balanced:
            return "cluster_balanced";
        case Strategy::max_diversity:
            return "max_diversity";
    }
    return "";
}

// "1 row", "2 rows".
std::string plural(size_t n, const char* noun) {
    return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s");
}

struct Settings {
    uint64_t k = 0;
    std::string column;            // set when field is a column name
    std::optional<Template> tmpl;  // set when field is a template
    std::string vector_column;     // set when rows carry embeddings instead
    Strategy strategy = Strategy::cluster_balanced;
    size_t clusters = 0;
    uint64_t seed = 0;
    std::string cluster_column;
    size_t max_features = 10000;
    size_t max_iterations = 50;
};

// Per-cluster quotas summing to min(k, rows): the largest level L with sum min(size, L) <= k,
// so a cluster smaller than its share keeps all its rows and the others share the rest; the
// few places left after that go one each to the largest clusters (ties: lower number).
std::vector<size_t> balanced_quotas(const std::vector<size_t>& sizes, size_t k) {
    size_t total = std::accumulate(sizes.begin(), sizes.end(), size_t{0});
    std::vector<size_t> quota(sizes.size(), 0);
    if (k >= total) return sizes;
    auto filled = [&](size_t level) {
        size_t s = 0;
        for (size_t n : sizes) s += std::min(n, level);
        return s;
    };
    size_t lo = 0, hi = *std::max_element(sizes.begin(), sizes.end());  // filled(hi) = total > k
    while (lo + 1 < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        (filled(mid) <= k ? lo : hi) = mid;
    }
    size_t left = k - filled(lo);
    for (size_t c = 0; c < sizes.size(); ++c) quota[c] = std::min(sizes[c], lo);
    std::vector<size_t> bigger;
    for (size_t c = 0; c < sizes.size(); ++c)
        if (sizes[c] > lo) bigger.push_back(c);
    std::stable_sort(bigger.begin(), bigger.end(), [&](size_t a, size_t b) { return sizes[a] > sizes[b]; });
    for (size_t i = 0; i < bigger.size() && left > 0; ++i, --left) ++quota[bigger[i]];
    return quota;
}

class DiversitySample final : public Block {
  public:
    DiversitySample(std::string name, Settings s, const BlockEnv& env)
        : Block(std::move(name)), s_(std::move(s)), round_(env.round), on_progress_(env.on_progress) {}

    bool needs_all_rows() const override { return true; }

    void process(std::vector<Record>&&, Emitter&) override {
        throw std::logic_error("diversity_sample is a barrier block: its rows arrive through finish()");
    }

    void finish(const RowSource& all_rows, Emitter& out) override {
        // Inside a repeat every round draws afresh.
        const uint64_t seed = round_ && *round_ ? mix_seed(s_.seed, *round_) : s_.seed;
        constexpr uint32_t kNoText = UINT32_MAX;

        // Pass 1: the text of every row into the vectorizer (only term counts are kept).
        text::TfidfVectorizer vectorizer({.max_features = s_.max_features});
        std::vector<uint32_t> doc_of(all_rows.size(), kNoText);  // row -> document
        std::vector<uint64_t> row_of;                            // document -> row
        std::unordered_map<uint64_t, std::string> no_text;       // row -> reason
        // With vector_column the rows are their embeddings, normalised, as dense rows.
        std::vector<std::vector<double>> vectors;
        all_rows.for_each([&](uint64_t i, Record&& row) {
            std::string reason;
            if (!s_.vector_column.empty()) {
                std::vector<double> v = vector_of(row, vectors.empty() ? 0 : vectors[0].size(), reason);
                if (reason.empty()) {
                    doc_of.at(i) = static_cast<uint32_t>(vectors.size());
                    vectors.push_back(std::move(v));
                    row_of.push_back(i);
                } else {
                    no_text.emplace(i, std::move(reason));
                }
                return;
            }
            std::string text = text_of(row, reason);
            if (!reason.empty()) {
                no_text.emplace(i, std::move(reason));
            } else {
                doc_of.at(i) = static_cast<uint32_t>(vectorizer.add(text));
                row_of.push_back(i);
            }
            if (on_progress_ && i % 8192 == 8191) on_progress_();
        });
        text::SparseMatrix x;
        if (s_.vector_column.empty()) {
            x = vectorizer.fit_transform();
        } else {
            const size_t dims = vectors.empty() ? 0 : vectors[0].size();
            x = text::SparseMatrix(dims);
            std::vector<uint32_t> ids(dims);
            std::iota(ids.begin(), ids.end(), 0u);
            for (const auto& v : vectors) x.append({ids, v});
            vectors.clear();
        }
        const size_t n = x.rows();
        const size_t k = static_cast<size_t>(std::min<uint64_t>(s_.k, n));
        if (on_progress_) on_progress_();

        // Topics, for the balanced strategy and for the report of every strategy. On large
        // inputs k-means is fitted on a sample (256 rows per k-means cluster is plenty) and
        // stops once at most 1 row in 1000 still moves.
        const size_t clusters = s_.clusters > 0 ? s_.clusters : auto_clusters(k);
        text::KMeansResult km;
        if (n > 0)
            km = text::cluster_topics(x, {.clusters = clusters,
                                          .seed = mix_seed(seed, std::string_view("kmeans")),
                                          .max_iterations = s_.max_iterations,
                                          .oversplit = kOversplit,
                                          .sample = std::max<size_t>(kMinFitSample, 256 * kOversplit * clusters),
                                          .tolerance = 0.001});
        if (on_progress_) on_progress_();

        // Selection: keep[d] for every document, and what the reason of a left-out one says.
        std::vector<bool> keep(n, k >= n);
        std::vector<size_t> quota;
        text::FarthestPoints fp;
        if (k < n) {
            switch (s_.strategy) {
                case Strategy::random: {
                    std::vector<uint32_t> idx(n);
                    std::iota(idx.begin(), idx.end(), 0u);
                    Rng rng(seed);
                    rng.sample_prefix(idx, k);
                    for (size_t i = 0; i < k; ++i) keep[idx[i]] = true;
                    break;
                }
                case Strategy::cluster_balanced: {
                    // Within a cluster the rows are a uniform sample of its quota.
                    quota = balanced_quotas(km.sizes, k);
                    std::vector<std::vector<uint32_t>> members(km.sizes.size());
                    for (uint32_t d = 0; d < n; ++d) members[km.assignment[d]].push_back(d);
                    Rng rng(mix_seed(seed, std::string_view("within clusters")));
                    for (size_t c = 0; c < members.size(); ++c) {
                        rng.sample_prefix(members[c], quota[c]);
                        for (size_t i = 0; i < quota[c]; ++i) keep[members[c][i]] = true;
                    }
                    break;
                }
                case Strategy::max_diversity: {
                    Rng rng(mix_seed(seed, std::string_view("first point")));
                    fp = text::farthest_points(x, k, static_cast<size_t>(rng.below(n)));
                    for (size_t d : fp.order) keep[d] = true;
                    break;
                }
            }
        }
        if (on_progress_) on_progress_();

        // Pass 2: emit in input order; everything else is rejected with its reason.
        std::vector<size_t> kept_per_cluster(km.sizes.size(), 0);
        const std::string tail = fmt::format("k={} of {}", s_.k, plural(n, "row"));
        all_rows.for_each([&](uint64_t i, Record&& row) {
            const uint32_t d = i < doc_of.size() ? doc_of[i] : kNoText;
            if (d == kNoText) {
                auto it = no_text.find(i);
                out.reject(std::move(row), it != no_text.end() ? it->second : "row not seen in the first pass");
                return;
            }
            const uint32_t c = km.assignment.empty() ? 0 : km.assignment[d];
            if (keep[d]) {
                if (!km.sizes.empty()) ++kept_per_cluster[c];
                if (!s_.cluster_column.empty() && row.is_object()) row[s_.cluster_column] = c;
                out.emit(std::move(row));
                return;
            }
            std::string reason;
            switch (s_.strategy) {
                case Strategy::random:
                    reason = fmt::format("not selected by diversity_sample (random: {})", tail);
                    break;
                case Strategy::cluster_balanced:
                    reason = fmt::format(
                        "not selected by diversity_sample (cluster_balanced: cluster {} had {} for {}; {}, {})", c,
                        plural(km.sizes[c], "row"), plural(quota[c], "place"), plural(km.sizes.size(), "cluster"),
                        tail);
                    break;
                case Strategy::max_diversity:
                    reason = fmt::format(
                        "not selected by diversity_sample (max_diversity: {}; the nearest kept row, row {}, has cosine "
                        "similarity {:.3f})",
                        tail, row_of[fp.nearest[d]] + 1, fp.nearest_similarity[d]);
                    break;
            }
            out.reject(std::move(row), std::move(reason));
        });

        metrics_ = report(vectorizer, km, kept_per_cluster, n, no_text.size());
    }

    Json metrics() const override { return metrics_; }

  private:
    // The row's embedding, normalised to length 1; sets `reason` when it has none usable.
    std::vector<double> vector_of(const Record& row, size_t dims, std::string& reason) const {
        auto it = row.find(s_.vector_column);
        std::vector<double> v;
        if (it == row.end()) {
            reason = "missing column '" + s_.vector_column + "' (add an embed block before this one)";
        } else if (!it->is_array() || it->empty()) {
            reason = fmt::format("column '{}' is not a non-empty array of numbers", s_.vector_column);
        } else if (dims != 0 && it->size() != dims) {
            reason =
                fmt::format("column '{}' has {} dimensions, the rows before it {}", s_.vector_column, it->size(), dims);
        } else {
            double norm = 0;
            for (const auto& x : *it) {
                if (!x.is_number()) {
                    reason = fmt::format("column '{}' holds a {} among its numbers", s_.vector_column, x.type_name());
                    return {};
                }
                v.push_back(x.get<double>());
                norm += v.back() * v.back();
            }
            if (!(norm > 0) || !std::isfinite(norm)) {
                reason = fmt::format("column '{}' is a zero or non-finite vector", s_.vector_column);
                return {};
            }
            for (double& d : v) d /= std::sqrt(norm);
        }
        return v;
    }

    // The text a row contributes; sets `reason` when it has none.
    std::string text_of(const Record& row, std::string& reason) const {
        if (s_.tmpl) {
            try {
                return s_.tmpl->render(row);
            } catch (const TemplateError& e) {
                reason = e.what();
                return {};
            }
        }
        auto it = row.find(s_.column);
        if (it == row.end()) {
            reason = "missing column '" + s_.column + "'";
        } else if (!it->is_string()) {
            reason = fmt::format("column '{}' is not a string (got {})", s_.column, json_type_name(*it));
        } else {
            return it->get<std::string>();
        }
        return {};
    }

    Json report(const text::TfidfVectorizer& vectorizer, const text::KMeansResult& km,
                const std::vector<size_t>& kept_per_cluster, size_t rows, size_t rows_without_text) const {
        // The words that weigh most in each cluster's centroid name its topic for a reader.
        Json terms = Json::array();
        for (const auto& centroid : km.centroids) {
            std::vector<uint32_t> ids;
            for (uint32_t t = 0; t < centroid.size(); ++t)
                if (centroid[t] > 0) ids.push_back(t);
            const size_t top = std::min<size_t>(ids.size(), 5);
            std::partial_sort(ids.begin(), ids.begin() + top, ids.end(), [&](uint32_t a, uint32_t b) {
                return centroid[a] != centroid[b] ? centroid[a] > centroid[b] : a < b;
            });
            Json words = Json::array();
            // Embedding dimensions name nothing a reader could use.
            if (s_.vector_column.empty())
                for (size_t i = 0; i < top; ++i) words.push_back(vectorizer.term(ids[i]));
            terms.push_back(std::move(words));
        }
        size_t kept = std::accumulate(kept_per_cluster.begin(), kept_per_cluster.end(), size_t{0});
        return {{"strategy", strategy_name(s_.strategy)},
                {"k", s_.k},
                {"rows", rows},
                {"rows_without_text", rows_without_text},
                {"kept", kept},
                {"vocabulary", s_.vector_column.empty() ? vectorizer.dimensions() : 0},
                {"clusters", km.sizes.size()},
                {"kmeans_clusters_merged", km.merged_from},
                {"kmeans_iterations", km.iterations},
                {"kmeans_converged", km.converged},
                {"kmeans_mean_similarity", km.mean_similarity},
                {"cluster_sizes", km.sizes},
                {"kept_per_cluster", kept_per_cluster},
                {"entropy_bits_before", text::count_entropy_bits(km.sizes)},
                {"entropy_bits_after", text::count_entropy_bits(kept_per_cluster)},
                {"entropy_bits_max", km.sizes.empty() ? 0.0 : std::log2(static_cast<double>(km.sizes.size()))},
                {"cluster_terms", std::move(terms)}};
    }

    Settings s_;
    const uint64_t* round_;
    std::function<void()> on_progress_;
    Json metrics_ = nullptr;  // filled by finish()
};

std::unique_ptr<Block> make_diversity_sample(const std::string& name, const Json& raw, const BlockEnv& env) {
    static const Json schema = Json::parse(kSchema);
    const Json config = detail::apply_defaults(schema, raw);  // the engine does it; direct callers may not
    Settings s;
    const auto& k = config.at("k");
    if (!k.is_number_integer() || (!k.is_number_unsigned() && k.get<int64_t>() < 0))
        throw ConfigError("config.k: must be an integer >= 0");
    s.k = k.get<uint64_t>();
    if (config.contains("field") == config.contains("vector_column"))
        throw ConfigError("config.field: give field (the text compared) or vector_column (embeddings), one of them");
    if (config.contains("vector_column")) {
        s.vector_column = config.at("vector_column").get<std::string>();
    } else {
        const std::string field = config.at("field").get<std::string>();
        if (field.empty()) throw ConfigError("config.field: needs a column name or a template");
        // A column is read directly, which matters at 100,000 rows: rendering costs far more.
        if (is_column_name(field))
            s.column = field;
        else
            s.tmpl = Template::compile(field, "config.field");
    }
    const std::string strategy = config.at("strategy").get<std::string>();
    if (strategy == "random")
        s.strategy = Strategy::random;
    else if (strategy == "cluster_balanced")
        s.strategy = Strategy::cluster_balanced;
    else if (strategy == "max_diversity")
        s.strategy = Strategy::max_diversity;
    else
        throw ConfigError("config.strategy: must be random, cluster_balanced or max_diversity (got '" + strategy +
                          "')");
    s.clusters = config.at("clusters").get<size_t>();
    s.seed = env.seed;
    if (auto it = config.find("seed"); it != config.end() && !it->is_null()) {
        if (!it->is_number_integer()) throw ConfigError("config.seed: must be an integer");
        // A negative seed is as good as any: take its two's complement bits.
        s.seed = it->is_number_unsigned() ? it->get<uint64_t>() : static_cast<uint64_t>(it->get<int64_t>());
    }
    s.cluster_column = config.at("cluster_column").get<std::string>();
    s.max_features = config.at("max_features").get<size_t>();
    if (s.max_features == 0) throw ConfigError("config.max_features: must be at least 1");
    s.max_iterations = config.at("max_iterations").get<size_t>();
    if (s.max_iterations == 0) throw ConfigError("config.max_iterations: must be at least 1");
    return std::make_unique<DiversitySample>(name, std::move(s), env);
}

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(diversity_sample,
                          "Keep k rows that cover the topics: TF-IDF + k-means, balanced per topic, farthest-point, "
                          "or random (seeded, input order kept)",
                          kSchema, make_diversity_sample)

}  // namespace synthforge
