// dedup_embedding: semantic near-duplicate removal. Each row carries a vector (from the
// `embed` block); a row is dropped when the cosine similarity of its vector with a kept
// row's reaches the threshold, so paraphrases that share few words still meet. The first row
// of a group is kept. Exact brute force over the kept vectors: O(rows x kept x dims), meant
// for up to some tens of thousands of rows; MinHash scales further on surface similarity.
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "column": {"type": "string", "minLength": 1, "default": "embedding", "description": "Column holding each row's vector (an array of numbers, as `embed` writes)"},
    "threshold": {"type": "number", "minimum": -1, "maximum": 1, "default": 0.95,
                  "description": "A row whose cosine similarity with a kept row is >= this is rejected"}
  }
})json";

// State delta: the kept rows since the last checkpoint, as little-endian binary: uint64 rows
// seen so far, uint32 dims, uint32 count, then per kept row uint64 ordinal and dims floats
// (already normalised). A resume rebuilds the matrix from the deltas in order.
class DedupEmbedding : public Block {
  public:
    DedupEmbedding(const std::string& name, std::string column, double threshold)
        : Block(name), column_(std::move(column)), threshold_(threshold) {}

    void process(std::vector<Record>&& rows, Emitter& out) override {
        std::vector<float> v;
        for (auto& row : rows) {
            ++seen_;
            std::string why = read_vector(row, v);
            if (!why.empty()) {
                out.reject(std::move(row), why);
                continue;
            }
            size_t best = SIZE_MAX;
            double best_sim = -2;
            for (size_t k = 0; k < ordinals_.size(); ++k) {
                const float* u = kept_.data() + k * dims_;
                double dot = 0;
                for (size_t d = 0; d < dims_; ++d) dot += static_cast<double>(u[d]) * v[d];
                if (dot > best_sim) best_sim = dot, best = k;
            }
            if (best != SIZE_MAX && best_sim >= threshold_) {
                out.reject(std::move(row), fmt::format("semantic near-duplicate of row {} on {}: cosine {:.4f} (>= {})",
                                                       ordinals_[best], column_, best_sim, threshold_));
                continue;
            }
            kept_.insert(kept_.end(), v.begin(), v.end());
            ordinals_.push_back(seen_);
            out.emit(std::move(row));
        }
    }

    std::string take_state_delta() override {
        if (seen_ == saved_seen_) return {};
        const uint32_t count = static_cast<uint32_t>(ordinals_.size() - saved_kept_);
        std::string out;
        append(out, seen_);
        append(out, static_cast<uint32_t>(dims_));
        append(out, count);
        for (size_t k = saved_kept_; k < ordinals_.size(); ++k) {
            append(out, ordinals_[k]);
            out.append(reinterpret_cast<const char*>(kept_.data() + k * dims_), dims_ * sizeof(float));
        }
        saved_seen_ = seen_;
        saved_kept_ = ordinals_.size();
        return out;
    }

    void restore_state(const std::vector<std::string>& deltas) override {
        kept_.clear();
        ordinals_.clear();
        seen_ = 0;
        dims_ = 0;
        for (const auto& delta : deltas) {
            if (delta.empty()) continue;
            size_t at = 0;
            const uint64_t seen = take<uint64_t>(delta, at);
            const uint32_t dims = take<uint32_t>(delta, at);
            const uint32_t count = take<uint32_t>(delta, at);
            if (count > 0) {
                if (dims_ != 0 && dims != dims_) corrupt("dimensions change");
                dims_ = dims;
            }
            for (uint32_t i = 0; i < count; ++i) {
                ordinals_.push_back(take<uint64_t>(delta, at));
                if (delta.size() - at < dims * sizeof(float)) corrupt("truncated");
                const size_t base = kept_.size();
                kept_.resize(base + dims);
                std::memcpy(kept_.data() + base, delta.data() + at, dims * sizeof(float));
                at += dims * sizeof(float);
            }
            if (at != delta.size() || seen < seen_) corrupt("inconsistent");
            seen_ = seen;
        }
        saved_seen_ = seen_;
        saved_kept_ = ordinals_.size();
    }

    Json metrics() const override { return {{"kept_vectors", ordinals_.size()}, {"dims", dims_}}; }

  private:
    // The row's vector, normalised, in `v`; or why the row cannot be compared.
    std::string read_vector(const Record& row, std::vector<float>& v) {
        auto it = row.find(column_);
        if (it == row.end()) return "missing column '" + column_ + "' (add an embed block before this one)";
        if (!it->is_array() || it->empty())
            return fmt::format("column '{}' is not a non-empty array of numbers", column_);
        if (dims_ != 0 && it->size() != dims_)
            return fmt::format("column '{}' has {} dimensions, the rows before it {}", column_, it->size(), dims_);
        v.clear();
        double norm = 0;
        for (const auto& x : *it) {
            if (!x.is_number()) return fmt::format("column '{}' holds a {} among its numbers", column_, x.type_name());
            v.push_back(x.get<float>());
            norm += static_cast<double>(v.back()) * v.back();
        }
        if (!(norm > 0) || !std::isfinite(norm))
            return fmt::format("column '{}' is a zero or non-finite vector", column_);
        const float scale = static_cast<float>(1 / std::sqrt(norm));
        for (float& x : v) x *= scale;
        dims_ = v.size();
        return "";
    }

    template <class T>
    static void append(std::string& out, T value) {
        out.append(reinterpret_cast<const char*>(&value), sizeof(T));
    }
    template <class T>
    T take(const std::string& data, size_t& at) const {
        if (data.size() - at < sizeof(T)) corrupt("truncated");
        T value;
        std::memcpy(&value, data.data() + at, sizeof(T));
        at += sizeof(T);
        return value;
    }
    [[noreturn]] void corrupt(const char* what) const {
        throw RunError(fmt::format("dedup_embedding '{}': corrupt saved state in the run store ({})", name(), what));
    }

    std::string column_;
    double threshold_;
    size_t dims_ = 0;
    std::vector<float> kept_;  // kept rows' normalised vectors, row-major
    std::vector<uint64_t> ordinals_;
    uint64_t seen_ = 0, saved_seen_ = 0;
    size_t saved_kept_ = 0;
};

const bool registered = [] {
    BlockRegistry::global().add(
        {"dedup_embedding", "Drop rows whose vector (from embed) has cosine >= threshold with a kept row's",
         Json::parse(kSchema),
         [](const std::string& name, const Json& config, const BlockEnv&) -> std::unique_ptr<Block> {
             return std::make_unique<DedupEmbedding>(name, config.value("column", "embedding"),
                                                     config.value("threshold", 0.95));
         }});
    return true;
}();

}  // namespace
}  // namespace synthforge
