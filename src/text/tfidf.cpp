// TF-IDF vectors, spherical k-means and farthest-point selection (see tfidf.h).
//
// Everything here must be reproducible bit for bit from the input and a seed: the random
// numbers come from a local SplitMix64 reduced to ranges with integer arithmetic (the
// standard distributions differ between standard libraries), every sum runs in a fixed
// index order, and every tie goes to the lowest index. Hash maps are only ever looked up,
// never iterated, for the same reason.
//
// Scale is the other concern: a diversity_sample of 1,000 out of 100,000 rows must take
// seconds. Rows are stored contiguously (CSR); Lloyd's iterations score each sparse row
// against dense centroids (O(nonzeros * clusters) per pass), and the one-row-against-all
// passes of seeding and farthest-point selection go through an inverted index, visiting
// only the rows that share a term with the chosen row.

#include "synthforge/text/tfidf.h"

#include "synthforge/text/rouge.h"

#include "splitmix64.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <unordered_map>

namespace synthforge::text {

namespace {

struct TransparentHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Cosine similarity above which two unit vectors count as the same direction (rounding
// keeps equal vectors a few ulps from 1).
constexpr double kSameDirection = 1.0 - 1e-9;

// Cosine distance from a similarity, 0 for the same direction: rounding puts equal vectors
// a few ulps either side of similarity 1, and a duplicate must weigh nothing in the draws
// of k-means++ (nor a negative distance break them).
double distance_of(double similarity) {
    return similarity >= kSameDirection ? 0.0 : 1.0 - similarity;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Sparse vectors

void SparseMatrix::append(SparseView row) {
    if (row.ids.size() != row.values.size())
        throw std::invalid_argument("SparseMatrix::append: ids and values differ in length");
    for (size_t j = 0; j < row.size(); ++j) {
        if (row.ids[j] >= dimensions_) throw std::invalid_argument("SparseMatrix::append: id out of range");
        if (j > 0 && row.ids[j] <= row.ids[j - 1])
            throw std::invalid_argument("SparseMatrix::append: ids not ascending");
    }
    ids_.insert(ids_.end(), row.ids.begin(), row.ids.end());
    values_.insert(values_.end(), row.values.begin(), row.values.end());
    offsets_.push_back(ids_.size());
}

double dot(SparseView a, SparseView b) {
    double s = 0.0;
    size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (a.ids[i] < b.ids[j]) {
            ++i;
        } else if (b.ids[j] < a.ids[i]) {
            ++j;
        } else {
            s += a.values[i++] * b.values[j++];
        }
    }
    return s;
}

double dot(SparseView a, std::span<const double> dense) {
    double s = 0.0;
    for (size_t j = 0; j < a.size(); ++j) s += a.values[j] * dense[a.ids[j]];
    return s;
}

double norm(SparseView a) {
    double s = 0.0;
    for (double v : a.values) s += v * v;
    return std::sqrt(s);
}

double cosine(SparseView a, SparseView b) {
    const double na = norm(a), nb = norm(b);
    if (na == 0.0 || nb == 0.0) return 0.0;
    return dot(a, b) / (na * nb);
}

double cosine(std::span<const double> a, std::span<const double> b) {
    if (a.size() != b.size()) throw std::invalid_argument("cosine: vectors differ in length");
    double ab = 0.0, aa = 0.0, bb = 0.0;
    for (size_t i = 0; i < a.size(); ++i) {
        ab += a[i] * b[i];
        aa += a[i] * a[i];
        bb += b[i] * b[i];
    }
    if (aa == 0.0 || bb == 0.0) return 0.0;
    return ab / (std::sqrt(aa) * std::sqrt(bb));
}

std::vector<double> mean_vector(const SparseMatrix& m, size_t begin, size_t end) {
    std::vector<double> mean(m.dimensions(), 0.0);
    end = std::min(end, m.rows());
    if (begin >= end) return mean;
    for (size_t i = begin; i < end; ++i) {
        const SparseView r = m.row(i);
        for (size_t j = 0; j < r.size(); ++j) mean[r.ids[j]] += r.values[j];
    }
    const double n = static_cast<double>(end - begin);
    for (double& v : mean) v /= n;
    return mean;
}

double count_entropy_bits(std::span<const size_t> counts) {
    double total = 0.0;
    for (size_t c : counts) total += static_cast<double>(c);
    if (total <= 0.0) return 0.0;
    double h = 0.0;
    for (size_t c : counts)
        if (c > 0) {
            const double p = static_cast<double>(c) / total;
            h -= p * std::log2(p);
        }
    return h > 0.0 ? h : 0.0;
}

// ---------------------------------------------------------------------------------------------
// TF-IDF

struct TfidfVectorizer::Impl {
    TfidfOptions options;
    TokenVocab vocab;  // every token seen, fitted or not
    // Term counts of each added document (CSR over vocab ids, ascending within a document).
    std::vector<size_t> doc_offsets{0};
    std::vector<uint32_t> doc_terms;
    std::vector<uint32_t> doc_counts;
    // After fit: vocab id -> feature id (-1: not kept), the features' text and IDF.
    bool fitted = false;
    std::vector<int32_t> feature_of;
    std::vector<std::string> terms;
    std::vector<double> idf;
    std::unordered_map<std::string, uint32_t, TransparentHash, std::equal_to<>> feature_ids;

    double tf(uint32_t count) const {
        return options.sublinear_tf ? 1.0 + std::log(static_cast<double>(count)) : static_cast<double>(count);
    }

    // (feature id, tf * idf) pairs -> a unit-length vector with ascending ids.
    SparseVector finish_vector(std::vector<std::pair<uint32_t, double>>& weights) const {
        std::sort(weights.begin(), weights.end());
        SparseVector v;
        double sq = 0.0;
        for (const auto& [id, w] : weights) sq += w * w;
        const double n = std::sqrt(sq);
        if (n == 0.0) return v;
        v.ids.reserve(weights.size());
        v.values.reserve(weights.size());
        for (const auto& [id, w] : weights) {
            v.ids.push_back(id);
            v.values.push_back(w / n);
        }
        return v;
    }
};

TfidfVectorizer::TfidfVectorizer(TfidfOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->options = options;
}
TfidfVectorizer::~TfidfVectorizer() = default;
TfidfVectorizer::TfidfVectorizer(TfidfVectorizer&&) noexcept = default;
TfidfVectorizer& TfidfVectorizer::operator=(TfidfVectorizer&&) noexcept = default;

size_t TfidfVectorizer::add(std::string_view text) {
    Impl& m = *impl_;
    std::vector<uint32_t> ids = m.vocab.encode(text);
    std::sort(ids.begin(), ids.end());
    for (size_t i = 0; i < ids.size();) {
        size_t j = i;
        while (j < ids.size() && ids[j] == ids[i]) ++j;
        m.doc_terms.push_back(ids[i]);
        m.doc_counts.push_back(static_cast<uint32_t>(j - i));
        i = j;
    }
    m.doc_offsets.push_back(m.doc_terms.size());
    return m.doc_offsets.size() - 2;
}

size_t TfidfVectorizer::documents() const {
    return impl_->doc_offsets.size() - 1;
}

SparseMatrix TfidfVectorizer::fit_transform() {
    Impl& m = *impl_;
    const size_t docs = documents();
    std::vector<uint32_t> df(m.vocab.size(), 0);
    for (uint32_t t : m.doc_terms) ++df[t];

    // Vocabulary: the most widespread terms; ranking by (df, text) rather than by vocab id
    // keeps the ids independent of the order documents arrived in.
    std::vector<uint32_t> kept;
    for (uint32_t t = 0; t < df.size(); ++t)
        if (df[t] >= std::max<size_t>(m.options.min_df, 1)) kept.push_back(t);
    std::sort(kept.begin(), kept.end(), [&](uint32_t a, uint32_t b) {
        if (df[a] != df[b]) return df[a] > df[b];
        return m.vocab.token(a) < m.vocab.token(b);
    });
    if (m.options.max_features > 0 && kept.size() > m.options.max_features) kept.resize(m.options.max_features);

    m.feature_of.assign(m.vocab.size(), -1);
    m.terms.clear();
    m.idf.clear();
    m.feature_ids.clear();
    const double n = static_cast<double>(docs);
    for (uint32_t f = 0; f < kept.size(); ++f) {
        const uint32_t t = kept[f];
        m.feature_of[t] = static_cast<int32_t>(f);
        m.terms.push_back(m.vocab.token(t));
        m.idf.push_back(std::log((1.0 + n) / (1.0 + static_cast<double>(df[t]))) + 1.0);
        m.feature_ids.emplace(m.vocab.token(t), f);
    }
    m.fitted = true;

    SparseMatrix out(kept.size());
    std::vector<std::pair<uint32_t, double>> weights;
    for (size_t d = 0; d < docs; ++d) {
        weights.clear();
        for (size_t j = m.doc_offsets[d]; j < m.doc_offsets[d + 1]; ++j) {
            const int32_t f = m.feature_of[m.doc_terms[j]];
            if (f >= 0) weights.emplace_back(static_cast<uint32_t>(f), m.tf(m.doc_counts[j]) * m.idf[f]);
        }
        out.append(m.finish_vector(weights));
    }
    return out;
}

SparseVector TfidfVectorizer::transform(std::string_view text) const {
    const Impl& m = *impl_;
    if (!m.fitted) throw std::logic_error("TfidfVectorizer::transform before fit_transform");
    std::vector<uint32_t> ids;
    for (const std::string& tok : rouge_tokenize(text))
        if (auto it = m.feature_ids.find(tok); it != m.feature_ids.end()) ids.push_back(it->second);
    std::sort(ids.begin(), ids.end());
    std::vector<std::pair<uint32_t, double>> weights;
    for (size_t i = 0; i < ids.size();) {
        size_t j = i;
        while (j < ids.size() && ids[j] == ids[i]) ++j;
        weights.emplace_back(ids[i], m.tf(static_cast<uint32_t>(j - i)) * m.idf[ids[i]]);
        i = j;
    }
    return m.finish_vector(weights);
}

size_t TfidfVectorizer::dimensions() const {
    return impl_->terms.size();
}
const std::string& TfidfVectorizer::term(uint32_t id) const {
    return impl_->terms.at(id);
}
double TfidfVectorizer::idf(uint32_t id) const {
    return impl_->idf.at(id);
}

// ---------------------------------------------------------------------------------------------
// Spherical k-means

namespace {

// The matrix transposed (per term: the rows holding it, ascending), so the similarities of
// one row to all rows cost the total length of its terms' lists instead of a pass over
// every row's terms. Each row's similarity still adds its shared terms in ascending term
// order, exactly as dot() does, so both give the same bits.
class ColumnIndex {
  public:
    explicit ColumnIndex(const SparseMatrix& x) : starts_(x.dimensions() + 1, 0) {
        for (size_t i = 0; i < x.rows(); ++i)
            for (uint32_t t : x.row(i).ids) ++starts_[t + 1];
        for (size_t t = 0; t < x.dimensions(); ++t) starts_[t + 1] += starts_[t];
        rows_.resize(x.nonzeros());
        values_.resize(x.nonzeros());
        std::vector<size_t> fill(starts_.begin(), starts_.end() - 1);
        for (size_t i = 0; i < x.rows(); ++i) {
            const SparseView r = x.row(i);
            for (size_t j = 0; j < r.size(); ++j) {
                rows_[fill[r.ids[j]]] = static_cast<uint32_t>(i);
                values_[fill[r.ids[j]]++] = r.values[j];
            }
        }
    }
    // acc[i] += dot(row i, q) for every row sharing a term with q; acc covers all rows.
    void accumulate(SparseView q, std::vector<double>& acc) const {
        for (size_t j = 0; j < q.size(); ++j) {
            const double w = q.values[j];
            const size_t b = starts_[q.ids[j]], e = starts_[q.ids[j] + 1];
            for (size_t p = b; p < e; ++p) acc[rows_[p]] += values_[p] * w;
        }
    }

  private:
    std::vector<size_t> starts_;
    std::vector<uint32_t> rows_;
    std::vector<double> values_;
};

// Cosine distance of every row to `centre` into out[], capped by current[] when given;
// zero rows get 0 (they are never seeds). Returns the sum. acc must be all zero and is
// left so.
double distances_to(const SparseMatrix& x, const ColumnIndex& index, size_t centre, const std::vector<double>* current,
                    std::vector<double>& acc, std::vector<double>& out) {
    index.accumulate(x.row(centre), acc);
    double total = 0.0;
    for (size_t i = 0; i < x.rows(); ++i) {
        double d = x.row(i).empty() ? 0.0 : distance_of(acc[i]);
        acc[i] = 0.0;
        if (current && (*current)[i] < d) d = (*current)[i];
        out[i] = d;
        total += d;
    }
    return total;
}

// Greedy k-means++ in cosine distance. For unit vectors |x - c|^2 = 2 (1 - cos), so drawing
// with probability proportional to 1 - cos is exactly k-means++'s D^2 weighting. Returns the
// seed rows, fewer than k when every row coincides with a seed.
std::vector<size_t> kmeanspp_seeds(const SparseMatrix& x, size_t k, size_t trials, size_t first, SplitMix64& rng) {
    const size_t n = x.rows();
    const ColumnIndex index(x);
    std::vector<double> acc(n, 0.0), dist(n), trial_dist(n), best_dist(n), cumulative(n);
    std::vector<size_t> seeds{first};
    double potential = distances_to(x, index, first, nullptr, acc, dist);
    // Once every non-zero row coincides with a seed, more clusters could only split
    // duplicates: there are as many clusters as distinct rows.
    while (seeds.size() < k && potential > 0.0) {
        double run = 0.0;
        for (size_t i = 0; i < n; ++i) cumulative[i] = run += dist[i];
        size_t best = n;
        double best_potential = std::numeric_limits<double>::infinity();
        for (size_t t = 0; t < trials; ++t) {
            const double u = rng.unit() * run;
            size_t c =
                static_cast<size_t>(std::upper_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin());
            if (c >= n) c = n - 1;
            // A draw on the boundary of a zero-weight stretch (only through rounding) goes to
            // the row that owns that part of the cumulative sum.
            while (c > 0 && dist[c] == 0.0) --c;
            if (dist[c] == 0.0) continue;
            const double p = distances_to(x, index, c, &dist, acc, trial_dist);
            if (p < best_potential) {
                best_potential = p;
                best = c;
                best_dist.swap(trial_dist);
            }
        }
        if (best == n) {  // every draw fell on a boundary: take the farthest row instead
            best = static_cast<size_t>(std::max_element(dist.begin(), dist.end()) - dist.begin());
            best_potential = distances_to(x, index, best, &dist, acc, best_dist);
        }
        seeds.push_back(best);
        dist.swap(best_dist);
        potential = best_potential;
    }
    return seeds;
}

// Farthest-first traversal (Gonzalez 1985) over the non-zero rows not marked no_seed: each
// next seed is the row least similar to its most similar seed (ties: the lowest index).
// Stops early when every row equals a seed.
std::vector<size_t> farthest_first_seeds(const SparseMatrix& x, size_t k, size_t first,
                                         const std::vector<bool>& no_seed) {
    const size_t n = x.rows();
    const ColumnIndex index(x);
    std::vector<double> acc(n, 0.0), nearest(n, -std::numeric_limits<double>::infinity());
    std::vector<size_t> seeds{first};
    nearest[first] = 1.0;
    while (true) {
        index.accumulate(x.row(seeds.back()), acc);
        size_t next = n;
        for (size_t i = 0; i < n; ++i) {
            const double s = acc[i];
            acc[i] = 0.0;
            if (x.row(i).empty() || no_seed[i]) continue;
            nearest[i] = std::max(nearest[i], s);
            if (next == n || nearest[i] < nearest[next]) next = i;
        }
        if (seeds.size() >= k || next == n || nearest[next] >= kSameDirection) break;
        seeds.push_back(next);
        nearest[next] = 1.0;
    }
    return seeds;
}

// Centroids transposed (term-major, dims x k): a row's terms each read k adjacent values.
struct Centroids {
    size_t k = 0;
    std::vector<double> t;

    // The most similar centroid (ties: the lowest number) and the similarity.
    uint32_t nearest(SparseView r, std::vector<double>& scores, double* similarity) const {
        std::fill(scores.begin(), scores.end(), 0.0);
        for (size_t j = 0; j < r.size(); ++j) {
            const double w = r.values[j];
            const double* col = t.data() + static_cast<size_t>(r.ids[j]) * k;
            for (size_t c = 0; c < k; ++c) scores[c] += w * col[c];
        }
        uint32_t best = 0;
        for (uint32_t c = 1; c < k; ++c)
            if (scores[c] > scores[best]) best = c;
        *similarity = scores[best];
        return best;
    }
};

struct LloydResult {
    Centroids centroids;
    std::vector<uint32_t> assignment;  // internal cluster numbers
    size_t iterations = 0;
    bool converged = false;
};

// Lloyd iterations from the given seed rows.
LloydResult lloyd(const SparseMatrix& x, const std::vector<size_t>& seeds, size_t max_iterations, double tolerance) {
    LloydResult out;
    const size_t n = x.rows(), dims = x.dimensions(), k = seeds.size();
    Centroids& cen = out.centroids;
    cen.k = k;
    cen.t.assign(dims * k, 0.0);
    for (size_t c = 0; c < k; ++c) {
        const SparseView r = x.row(seeds[c]);
        for (size_t j = 0; j < r.size(); ++j) cen.t[static_cast<size_t>(r.ids[j]) * k + c] = r.values[j];
    }
    std::vector<uint32_t>& assignment = out.assignment;
    assignment.assign(n, UINT32_MAX);
    std::vector<double> similarity(n, 0.0), scores(k), norms(k);
    std::vector<size_t> sizes(k, 0);
    for (size_t it = 1; it <= std::max<size_t>(max_iterations, 1); ++it) {
        size_t changed = 0;
        std::fill(sizes.begin(), sizes.end(), 0);
        for (size_t i = 0; i < n; ++i) {
            const uint32_t best = cen.nearest(x.row(i), scores, &similarity[i]);
            if (assignment[i] != best) ++changed;
            assignment[i] = best;
            ++sizes[best];
        }
        // An empty cluster takes the row that fits its own cluster worst, so k clusters stay
        // in use while rows allow it; its similarity is then set to 1 (it is its own centre)
        // so the next empty cluster takes another row. Zero rows are never moved: they fit
        // every cluster equally (not at all) and would only bounce back; nor are rows equal to
        // their centroid (duplicates), which would only make a second copy of that centroid.
        for (uint32_t c = 0; c < k; ++c) {
            if (sizes[c] > 0) continue;
            size_t worst = n;
            for (size_t i = 0; i < n; ++i)
                if (sizes[assignment[i]] > 1 && !x.row(i).empty() && similarity[i] < kSameDirection &&
                    (worst == n || similarity[i] < similarity[worst]))
                    worst = i;
            if (worst == n) break;
            --sizes[assignment[worst]];
            assignment[worst] = c;
            similarity[worst] = 1.0;
            ++sizes[c];
            ++changed;
        }
        out.iterations = it;
        if (changed == 0) {
            out.converged = true;
            break;  // the centroids are already those of this assignment
        }
        if (it > 1 && static_cast<double>(changed) <= tolerance * static_cast<double>(n)) {
            out.converged = true;  // close enough: the last few moves hardly shift a centroid
            break;
        }
        // New centroids: the normalised sum of each cluster's rows, in row order.
        std::fill(cen.t.begin(), cen.t.end(), 0.0);
        for (size_t i = 0; i < n; ++i) {
            const SparseView r = x.row(i);
            const size_t c = assignment[i];
            for (size_t j = 0; j < r.size(); ++j) cen.t[static_cast<size_t>(r.ids[j]) * k + c] += r.values[j];
        }
        std::fill(norms.begin(), norms.end(), 0.0);
        for (size_t t = 0; t < dims; ++t)
            for (size_t c = 0; c < k; ++c) norms[c] += cen.t[t * k + c] * cen.t[t * k + c];
        for (size_t c = 0; c < k; ++c) norms[c] = norms[c] > 0.0 ? 1.0 / std::sqrt(norms[c]) : 0.0;
        for (size_t t = 0; t < dims; ++t)
            for (size_t c = 0; c < k; ++c) cen.t[t * k + c] *= norms[c];
    }
    return out;
}

// The public result from internal cluster numbers and dense centroids (one per internal
// cluster): clusters renumbered by their first row, empty ones last.
KMeansResult numbered(const SparseMatrix& x, const std::vector<uint32_t>& assignment,
                      std::vector<std::vector<double>> centroids) {
    KMeansResult result;
    const size_t n = x.rows(), k = centroids.size();
    std::vector<uint32_t> renumber(k, UINT32_MAX);
    uint32_t next = 0;
    for (size_t i = 0; i < n; ++i)
        if (renumber[assignment[i]] == UINT32_MAX) renumber[assignment[i]] = next++;
    for (size_t c = 0; c < k; ++c)
        if (renumber[c] == UINT32_MAX) renumber[c] = next++;
    result.assignment.resize(n);
    result.sizes.assign(k, 0);
    for (size_t i = 0; i < n; ++i) {
        result.assignment[i] = renumber[assignment[i]];
        ++result.sizes[result.assignment[i]];
    }
    result.centroids.resize(k);
    for (size_t c = 0; c < k; ++c) result.centroids[renumber[c]] = std::move(centroids[c]);
    double total = 0.0;
    for (size_t i = 0; i < n; ++i) total += dot(x.row(i), result.centroids[result.assignment[i]]);
    result.mean_similarity = n ? total / static_cast<double>(n) : 0.0;
    return result;
}

KMeansResult single_cluster(const SparseMatrix& x) {
    KMeansResult result;
    result.assignment.assign(x.rows(), 0);
    result.sizes.assign(1, x.rows());
    result.centroids.assign(1, std::vector<double>(x.dimensions(), 0.0));
    result.converged = true;
    return result;
}

}  // namespace

namespace {

// spherical_kmeans(), with rows that may not be seeds (seeding falls back to all rows when
// that leaves none).
KMeansResult fit_kmeans(const SparseMatrix& x, const KMeansOptions& options, std::vector<bool> no_seed) {
    const size_t n = x.rows(), dims = x.dimensions();
    if (n == 0) return {};
    if (options.clusters == 0) throw std::invalid_argument("spherical_kmeans: clusters must be at least 1");
    if (x.nonzeros() == 0) return single_cluster(x);  // nothing tells the rows apart
    SplitMix64 rng(options.seed);
    no_seed.resize(n, false);

    // Fit on a uniform sample of the rows when asked (partial Fisher-Yates, kept in row order).
    const SparseMatrix* fit = &x;
    SparseMatrix sample(dims);
    if (options.sample > 0 && options.sample < n) {
        std::vector<size_t> idx(n);
        for (size_t i = 0; i < n; ++i) idx[i] = i;
        for (size_t i = 0; i < options.sample; ++i) std::swap(idx[i], idx[i + rng.below(n - i)]);
        idx.resize(options.sample);
        std::sort(idx.begin(), idx.end());
        std::vector<bool> sample_no_seed;
        for (size_t i : idx) {
            sample.append(x.row(i));
            sample_no_seed.push_back(no_seed[i]);
        }
        if (sample.nonzeros() > 0) {  // else: fit on everything
            fit = &sample;
            no_seed = std::move(sample_no_seed);
        }
    }
    const size_t m = fit->rows();
    const size_t wanted = std::min(options.clusters, m);

    std::vector<size_t> candidates;
    for (size_t i = 0; i < m; ++i)
        if (!fit->row(i).empty() && !no_seed[i]) candidates.push_back(i);
    if (candidates.empty()) {
        std::fill(no_seed.begin(), no_seed.end(), false);
        for (size_t i = 0; i < m; ++i)
            if (!fit->row(i).empty()) candidates.push_back(i);
    }
    const size_t first = candidates[rng.below(candidates.size())];
    std::vector<size_t> seeds;
    if (options.seeding == KMeansSeeding::farthest_first) {
        seeds = farthest_first_seeds(*fit, wanted, first, no_seed);
    } else {
        const size_t trials = options.local_trials > 0
                                  ? options.local_trials
                                  : 2 + static_cast<size_t>(std::floor(std::log(static_cast<double>(wanted))));
        seeds = kmeanspp_seeds(*fit, wanted, trials, first, rng);
    }
    LloydResult fitted = lloyd(*fit, seeds, options.max_iterations, options.tolerance);

    // Every row to its nearest centroid when the fit saw only a sample.
    std::vector<uint32_t> assignment = std::move(fitted.assignment);
    if (fit != &x) {
        assignment.resize(n);
        std::vector<double> scores(fitted.centroids.k);
        double similarity;
        for (size_t i = 0; i < n; ++i) assignment[i] = fitted.centroids.nearest(x.row(i), scores, &similarity);
    }
    const size_t k = fitted.centroids.k;
    std::vector<std::vector<double>> centroids(k, std::vector<double>(dims));
    for (size_t t = 0; t < dims; ++t)
        for (size_t c = 0; c < k; ++c) centroids[c][t] = fitted.centroids.t[t * k + c];
    KMeansResult result = numbered(x, assignment, std::move(centroids));
    result.iterations = fitted.iterations;
    result.converged = fitted.converged;
    return result;
}

}  // namespace

KMeansResult spherical_kmeans(const SparseMatrix& x, const KMeansOptions& options) {
    return fit_kmeans(x, options, {});
}

// ---------------------------------------------------------------------------------------------
// Topics

KMeansResult cluster_topics(const SparseMatrix& x, const TopicOptions& options) {
    const size_t n = x.rows(), dims = x.dimensions();
    if (n == 0) return {};
    if (options.clusters == 0) throw std::invalid_argument("cluster_topics: clusters must be at least 1");
    const size_t split = std::min(n, options.clusters * std::max<size_t>(options.oversplit, 1));
    const KMeansOptions kmo{.clusters = split,
                            .seed = options.seed,
                            .max_iterations = options.max_iterations,
                            .seeding = KMeansSeeding::farthest_first,
                            .sample = options.sample,
                            .tolerance = options.tolerance};
    // A cluster this small is not a topic (outliers, mostly: farthest-first seeds go to the
    // rows least like the others). Its rows may not be seeds in the next round, so the
    // seeds go to topics instead; rows that only ever form small clusters join their most
    // similar cluster below. Only with 40 rows or more per cluster is "small" telling.
    const size_t per = 20 * options.clusters;
    const size_t min_size = n >= 2 * per ? std::max<size_t>(2, (n + per - 1) / per) : 1;
    std::vector<bool> no_seed(n, false);
    KMeansResult km;
    for (int round = 0; round < 3; ++round) {
        km = fit_kmeans(x, kmo, no_seed);
        bool more = false;
        for (size_t i = 0; i < n; ++i)
            if (km.sizes[km.assignment[i]] < min_size && !no_seed[i]) no_seed[i] = more = true;
        if (!more) break;
    }
    const size_t k = km.sizes.size();

    // Each k-means cluster as the sum of its rows' vectors; the cosine of two sums is how
    // alike the two clusters are as wholes.
    std::vector<std::vector<double>> sum(k, std::vector<double>(dims, 0.0));
    for (size_t i = 0; i < n; ++i) {
        const SparseView r = x.row(i);
        auto& s = sum[km.assignment[i]];
        for (size_t j = 0; j < r.size(); ++j) s[r.ids[j]] += r.values[j];
    }
    // Groups of k-means clusters are compared by average linkage: the mean similarity over
    // pairs of their clusters. Comparing the groups' own sums instead (centroid linkage)
    // tends to snowball: a sum over two topics is mostly the words every text uses, so it
    // grows more similar to everything and can swallow one topic after another.
    std::vector<std::vector<double>> sim(k, std::vector<double>(k, 0.0));
    for (size_t a = 0; a < k; ++a)
        for (size_t b = a + 1; b < k; ++b) sim[a][b] = sim[b][a] = cosine(sum[a], sum[b]);
    std::vector<size_t> size = km.sizes;
    std::vector<size_t> members(k, 1);  // k-means clusters in the group, for the averages
    std::vector<bool> alive(k, true);
    std::vector<uint32_t> merged_into(k);
    for (uint32_t c = 0; c < k; ++c) merged_into[c] = c;
    size_t left = k;
    // `average`: a merge of two groups. Otherwise a small cluster is absorbed, and the
    // group's similarities stay as they were: an outlier says nothing about its new group.
    auto merge = [&](size_t into, size_t from, bool average) {
        for (size_t t = 0; t < dims; ++t) sum[into][t] += sum[from][t];
        size[into] += size[from];
        alive[from] = false;
        for (auto& m : merged_into)
            if (m == from) m = static_cast<uint32_t>(into);
        if (average) {
            const double wi = static_cast<double>(members[into]), wf = static_cast<double>(members[from]);
            for (size_t c = 0; c < k; ++c)
                if (alive[c] && c != into)
                    sim[into][c] = sim[c][into] = (wi * sim[into][c] + wf * sim[from][c]) / (wi + wf);
            members[into] += members[from];
        }
        --left;
    };
    auto most_similar = [&](size_t a) {
        size_t best = k;
        for (size_t c = 0; c < k; ++c)
            if (alive[c] && c != a && (best == k || sim[a][c] > sim[a][best])) best = c;
        return best;
    };

    // First the clusters too small to be a topic, each into its most similar cluster,
    // smallest first, even if that leaves fewer clusters than asked.
    while (left > 1) {
        size_t smallest = k;
        for (size_t c = 0; c < k; ++c)
            if (alive[c] && size[c] < min_size && (smallest == k || size[c] < size[smallest])) smallest = c;
        if (smallest == k) break;
        merge(most_similar(smallest), smallest, false);
    }
    // Then the most similar pair, until `clusters` are left (ties: the lowest pair).
    while (left > options.clusters) {
        size_t ba = k, bb = k;
        for (size_t a = 0; a < k; ++a)
            for (size_t b = a + 1; b < k; ++b)
                if (alive[a] && alive[b] && (ba == k || sim[a][b] > sim[ba][bb])) {
                    ba = a;
                    bb = b;
                }
        merge(ba, bb, true);
    }

    std::vector<uint32_t> assignment(n);
    for (size_t i = 0; i < n; ++i) assignment[i] = merged_into[km.assignment[i]];
    // Compact the surviving numbers, then renumber by first row.
    std::vector<uint32_t> compact(k, UINT32_MAX);
    std::vector<std::vector<double>> centroids;
    for (size_t c = 0; c < k; ++c)
        if (alive[c]) {
            compact[c] = static_cast<uint32_t>(centroids.size());
            double sq = 0.0;
            for (double v : sum[c]) sq += v * v;
            const double inv = sq > 0.0 ? 1.0 / std::sqrt(sq) : 0.0;
            for (double& v : sum[c]) v *= inv;
            centroids.push_back(std::move(sum[c]));
        }
    for (auto& a : assignment) a = compact[a];
    KMeansResult result = numbered(x, assignment, std::move(centroids));
    result.iterations = km.iterations;
    result.converged = km.converged;
    result.merged_from = result.sizes.size() < k ? k : 0;
    return result;
}

// ---------------------------------------------------------------------------------------------
// Farthest-point selection

FarthestPoints farthest_points(const SparseMatrix& x, size_t k, size_t first) {
    FarthestPoints out;
    const size_t n = x.rows();
    if (n == 0 || k == 0) return out;
    if (first >= n) throw std::invalid_argument("farthest_points: first row out of range");
    k = std::min(k, n);
    out.nearest_similarity.assign(n, -std::numeric_limits<double>::infinity());
    out.nearest.assign(n, n);
    std::vector<bool> chosen(n, false);
    const ColumnIndex index(x);
    std::vector<double> acc(n, 0.0);

    size_t pick = first;
    while (true) {
        chosen[pick] = true;
        out.order.push_back(pick);
        out.nearest_similarity[pick] = 1.0;
        out.nearest[pick] = pick;
        const SparseView p = x.row(pick);
        // One pass: update every row's nearest chosen row with `pick`, and find the next
        // pick (the unchosen row least similar to its nearest chosen row) on the way.
        // Chosen rows keep themselves as nearest, even when rounding puts another chosen
        // duplicate a hair above similarity 1. Only rows sharing a term with `pick` get a
        // non-zero similarity, so the index visits just those.
        index.accumulate(p, acc);
        size_t next = n;
        for (size_t i = 0; i < n; ++i) {
            const double dot_i = acc[i];
            acc[i] = 0.0;
            if (chosen[i]) continue;
            double s;
            if (p.empty())
                s = x.row(i).empty() ? 1.0 : 0.0;  // zero rows are equal to each other only
            else
                s = dot_i;
            if (s > out.nearest_similarity[i]) {  // ties keep the earlier chosen row
                out.nearest_similarity[i] = s;
                out.nearest[i] = pick;
            }
            if (next == n || out.nearest_similarity[i] < out.nearest_similarity[next]) next = i;
        }
        if (out.order.size() == k || next == n) break;
        pick = next;
    }
    return out;
}

}  // namespace synthforge::text
