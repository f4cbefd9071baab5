#pragma once
// TF-IDF vectors of texts and what diversity sampling does with them: cosine similarity,
// centroids, spherical k-means (topics) and greedy farthest-point selection (spread).
// Pure in-memory computation: no JSON, no I/O.
//
// Words are rouge_tokenize()'s tokens (lowercase ASCII letters and digits). Every result is
// a function of the input and the seed alone: random draws come from a fixed generator and
// our own integer arithmetic, ties break towards the lower index, and sums run in index
// order, so the same call gives the same answer on every machine.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace synthforge::text {

// A sparse vector seen through two parallel arrays; ids strictly ascending.
struct SparseView {
    std::span<const uint32_t> ids;
    std::span<const double> values;
    size_t size() const { return ids.size(); }
    bool empty() const { return ids.empty(); }
};

// An owned sparse vector; ids strictly ascending, values parallel to them.
struct SparseVector {
    std::vector<uint32_t> ids;
    std::vector<double> values;
    operator SparseView() const { return {ids, values}; }  // NOLINT: a view is what every function takes
};

// Rows of sparse vectors stored one after another (CSR), so scans over many rows read
// memory in order instead of chasing one allocation per row.
class SparseMatrix {
  public:
    explicit SparseMatrix(size_t dimensions = 0) : dimensions_(dimensions) {}
    // Appends a row; its ids must be ascending and below dimensions().
    void append(SparseView row);
    size_t rows() const { return offsets_.size() - 1; }
    size_t dimensions() const { return dimensions_; }
    size_t nonzeros() const { return ids_.size(); }
    SparseView row(size_t i) const {
        const size_t b = offsets_[i], e = offsets_[i + 1];
        return {std::span<const uint32_t>(ids_.data() + b, e - b), std::span<const double>(values_.data() + b, e - b)};
    }

  private:
    size_t dimensions_;
    std::vector<size_t> offsets_{0};
    std::vector<uint32_t> ids_;
    std::vector<double> values_;
};

double dot(SparseView a, SparseView b);
// Sparse against dense: the dense vector must cover every id of `a`.
double dot(SparseView a, std::span<const double> dense);
double norm(SparseView a);
// Cosine similarity; 0 when either vector is zero.
double cosine(SparseView a, SparseView b);
double cosine(std::span<const double> a, std::span<const double> b);
// The mean of rows [begin, end) as a dense vector of matrix.dimensions() values (all zero
// when the range is empty). Not normalised: its length says how aligned the rows are.
std::vector<double> mean_vector(const SparseMatrix& m, size_t begin, size_t end);
inline std::vector<double> mean_vector(const SparseMatrix& m) {
    return mean_vector(m, 0, m.rows());
}

struct TfidfOptions {
    // Keep at most this many terms: those found in the most documents (ties: the
    // alphabetically first). 0: no cap.
    size_t max_features = 0;
    // Ignore terms found in fewer documents than this.
    size_t min_df = 1;
    // Term frequency 1 + ln(count) instead of the raw count.
    bool sublinear_tf = false;
};

// Term weights as scikit-learn's TfidfVectorizer(norm="l2", smooth_idf=True) computes them:
// tf(t, d) * idf(t), idf(t) = ln((1 + N) / (1 + df(t))) + 1, each document's vector scaled to
// length 1. Documents are added one at a time (only their term counts are kept, not their
// text), then fitted together.
class TfidfVectorizer {
  public:
    explicit TfidfVectorizer(TfidfOptions options = {});
    ~TfidfVectorizer();
    TfidfVectorizer(TfidfVectorizer&&) noexcept;
    TfidfVectorizer& operator=(TfidfVectorizer&&) noexcept;

    // Tokenises a document and keeps its term counts; returns its index (0, 1, 2, ...).
    size_t add(std::string_view text);
    size_t documents() const;

    // Chooses the vocabulary and IDF from every document added so far and returns their
    // vectors, one row per document in order of add(). A document without any kept term
    // gets an empty (zero) row. Term ids run from the most widespread term (0) down.
    SparseMatrix fit_transform();

    // After fit_transform(): the vector of another text under the fitted vocabulary and IDF.
    SparseVector transform(std::string_view text) const;
    size_t dimensions() const;
    const std::string& term(uint32_t id) const;
    double idf(uint32_t id) const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

enum class KMeansSeeding {
    kmeans_plus_plus,  // greedy k-means++ (scikit-learn's default)
    farthest_first,    // farthest-first traversal: each seed the row least like the seeds so far
};

struct KMeansOptions {
    size_t clusters = 8;
    uint64_t seed = 0;
    // Lloyd iterations stop when no row changes cluster, or after this many.
    size_t max_iterations = 50;
    // Greedy k-means++: candidates drawn per centre, the one that lowers the total distance
    // most is kept. 0: 2 + floor(ln clusters), as scikit-learn.
    size_t local_trials = 0;
    KMeansSeeding seeding = KMeansSeeding::kmeans_plus_plus;
    // Fit the centroids on a seeded uniform sample of at most this many rows, then assign
    // every row to its nearest centroid. 0: fit on all rows.
    size_t sample = 0;
    // Stop once an iteration moves at most this fraction of the rows (0: only when none
    // moves). The last moves of a large set are a few rows on cluster borders, trading
    // places for many iterations while hardly shifting a centroid.
    double tolerance = 0;
};

struct KMeansResult {
    // Cluster of each row; sizes.size() clusters. Clusters are numbered by their first row:
    // row 0 is in cluster 0, the first row not in cluster 0 is in cluster 1, and so on;
    // empty clusters (possible only after fitting on a sample) come last.
    std::vector<uint32_t> assignment;
    std::vector<size_t> sizes;
    // Unit-length centroid of each cluster, dense (dimensions values); zero when empty.
    std::vector<std::vector<double>> centroids;
    size_t iterations = 0;   // Lloyd iterations run
    bool converged = false;  // the last iteration moved no row (or few enough: tolerance)
    // Mean cosine similarity of each row to its cluster's centroid (what k-means maximises).
    double mean_similarity = 0;
    size_t merged_from = 0;  // cluster_topics: the k-means clusters merged into these (0: none)
};

// Spherical k-means: cosine similarity to unit-length centroids, Lloyd iterations from
// k-means++ (cosine distance 1 - cos) or farthest-first seeds. There are fewer clusters than
// asked when there are fewer distinct rows (seeding stops once every row coincides with a
// seed). A cluster left empty by an iteration takes the row least similar to its own centroid
// (from a cluster of two or more). Zero rows (no vocabulary term) are equally far from every
// centroid: they join the lowest-numbered cluster of the internal order, and are never seeds.
// Cost: O(iterations * nonzeros * clusters) on the fitted rows, plus seeding:
// O(clusters * trials * nonzeros) for k-means++, O(clusters * nonzeros) for farthest-first.
KMeansResult spherical_kmeans(const SparseMatrix& rows, const KMeansOptions& options);

struct TopicOptions {
    size_t clusters = 8;
    uint64_t seed = 0;
    size_t max_iterations = 50;
    // k-means runs with this many times `clusters` before merging.
    size_t oversplit = 2;
    size_t sample = 0;     // as KMeansOptions::sample
    double tolerance = 0;  // as KMeansOptions::tolerance
};

// Clusters meant to be topics, also when the topics differ a lot in size. Plain k-means
// cannot do that: its objective prefers splitting a large spread-out topic in two over
// separating two small distinct ones, and k-means++ seeds follow the same preference. So:
//  1. spherical k-means with `oversplit` times the clusters from farthest-first seeds, which
//     reach small distinct topics. They also reach outliers: rows of clusters too small to be
//     a topic (fewer than rows / (20 * clusters), when there are at least 40 rows per
//     cluster) may not be seeds in a next round (at most 3 rounds);
//  2. clusters still that small join their most similar cluster (cosine of the sums of
//     their rows), smallest first, even if that leaves fewer clusters than asked;
//  3. the two most similar groups merge until `clusters` are left, by average linkage (the
//     mean similarity over pairs of their k-means clusters). Parts of one topic share its
//     words and merge first; different topics share little and stay apart.
// Numbered like spherical_kmeans; merged_from tells how many k-means clusters went in.
KMeansResult cluster_topics(const SparseMatrix& rows, const TopicOptions& options);

struct FarthestPoints {
    std::vector<size_t> order;  // chosen rows, in the order chosen
    // For every row: the cosine similarity to its most similar chosen row, and that row
    // (for chosen rows: themselves, similarity 1).
    std::vector<double> nearest_similarity;
    std::vector<size_t> nearest;
};

// Greedy farthest-point (max-min) selection in cosine distance: starts from `first`, then
// repeatedly takes the row whose distance to its nearest chosen row is largest (ties: the
// lowest index) until k rows are chosen (all rows when k >= rows). Two zero rows are at
// distance 0 from each other and 1 from every other row. Cost per chosen row: the rows
// sharing a term with it, through an inverted index, plus one pass over the row count; at
// most O(k * nonzeros) in all.
FarthestPoints farthest_points(const SparseMatrix& rows, size_t k, size_t first);

// Shannon entropy in bits of a distribution given by counts (0 when all are zero).
double count_entropy_bits(std::span<const size_t> counts);

}  // namespace synthforge::text
