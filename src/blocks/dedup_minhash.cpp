// dedup_minhash: near-duplicate removal at scale. Each text becomes a set of shingles
// (word or character n-grams); MinHash signatures and LSH banding find the kept rows that
// may be similar, and a row is dropped only when the exact Jaccard similarity of its
// shingle set with one of them reaches the threshold. The first row of a group is kept.
#include "engine/schema_check.h"
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"
#include "synthforge/text/minhash.h"

#include <fmt/format.h>

#include <memory>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["column"],
  "properties": {
    "column": {"type": "string", "minLength": 1, "description": "Text column compared"},
    "threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.8,
                  "description": "A row whose shingle-set Jaccard similarity with a kept row is >= this is rejected"},
    "shingle": {"enum": ["word", "char"], "default": "word",
                "description": "word: shingles of n words (lowercased, punctuation ignored); char: of n characters"},
    "ngram": {"type": "integer", "minimum": 1, "maximum": 64, "default": 5,
              "description": "Shingle length n, in words or characters"},
    "num_perm": {"type": "integer", "minimum": 1, "maximum": 1024, "default": 128,
                 "description": "MinHash signature length (hash functions)"},
    "bands": {"type": "integer", "minimum": 0, "default": 0,
              "description": "LSH bands; 0: chosen from threshold and num_perm by minimising weighted error"},
    "rows": {"type": "integer", "minimum": 0, "default": 0,
             "description": "Signature values per LSH band; 0: chosen with bands"},
    "false_positive_weight": {"type": "number", "minimum": 0, "default": 0.1,
      "description": "Weight of LSH false positives when choosing bands and rows (cheap: candidates are verified)"},
    "false_negative_weight": {"type": "number", "minimum": 0, "default": 0.9,
      "description": "Weight of LSH false negatives (missed duplicates) when choosing bands and rows"},
    "seed": {"type": "integer", "minimum": 0, "default": 1, "description": "Seed of the MinHash hash functions"}
  }
})json";

// State delta: version byte, varint rows seen so far (absolute), varint count of kept rows
// added, then per kept row: varint ordinal delta to the previous kept row, varint number of
// shingle hashes, and the sorted hashes as varint gaps (the first from 0). Signatures and
// LSH keys are recomputed from the hashes on resume, which is cheap.
constexpr uint8_t kDeltaVersion = 1;

void put_varint(std::string& out, uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7F) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

class VarintReader {
  public:
    VarintReader(const std::string& data, const std::string& block) : data_(data), block_(block) {}
    bool at_end() const { return pos_ == data_.size(); }
    uint64_t next() {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos_ >= data_.size()) fail("truncated");
            const auto b = static_cast<uint8_t>(data_[pos_++]);
            v |= static_cast<uint64_t>(b & 0x7F) << shift;
            if (!(b & 0x80)) return v;
        }
        fail("bad varint");
        return 0;
    }
    [[noreturn]] void fail(const char* what) const {
        throw RunError(fmt::format("dedup_minhash '{}': corrupt saved state in the run store ({})", block_, what));
    }

  private:
    const std::string& data_;
    const std::string& block_;
    size_t pos_ = 0;
};

struct Settings {
    std::string column;
    double threshold;
    text::ShingleKind kind;
    size_t ngram;
    size_t num_perm;
    text::LshParams lsh;
    uint64_t seed;
};

class DedupMinHash : public Block {
  public:
    DedupMinHash(const std::string& name, Settings s)
        : Block(name),
          s_(std::move(s)),
          hasher_(s_.num_perm, s_.seed),
          index_(std::make_unique<text::MinHashIndex>(hasher_, s_.lsh, s_.threshold)) {}

    void process(std::vector<Record>&& rows, Emitter& out) override {
        for (auto& row : rows) {
            ++seen_;
            auto it = row.find(s_.column);
            if (it == row.end() || !it->is_string()) {
                out.reject(std::move(row), it == row.end() ? "missing column '" + s_.column + "'"
                                                           : fmt::format("column '{}' is not a string (got {})",
                                                                         s_.column, json_type_name(*it)));
                continue;
            }
            std::vector<uint32_t> shingles = text::shingle_hashes(it->get_ref<const std::string&>(), s_.kind, s_.ngram);
            const text::MinHashIndex::Match m = index_->query_or_add(shingles);
            if (m.item != text::MinHashIndex::npos) {
                out.reject(std::move(row), fmt::format("near-duplicate of row {} on {}: Jaccard {:.3f} (>= {})",
                                                       ordinals_[m.item], s_.column, m.jaccard, s_.threshold));
                continue;
            }
            ordinals_.push_back(seen_);
            append_kept(seen_, shingles);
            out.emit(std::move(row));
        }
    }

    std::string take_state_delta() override {
        if (seen_ == saved_seen_) return {};
        std::string out;
        out.push_back(static_cast<char>(kDeltaVersion));
        put_varint(out, seen_);
        put_varint(out, pending_count_);
        out += pending_;
        pending_.clear();
        pending_count_ = 0;
        saved_seen_ = seen_;
        last_saved_ordinal_ = ordinals_.empty() ? 0 : ordinals_.back();
        return out;
    }

    void restore_state(const std::vector<std::string>& deltas) override {
        index_ = std::make_unique<text::MinHashIndex>(hasher_, s_.lsh, s_.threshold);
        ordinals_.clear();
        seen_ = 0;
        uint64_t ordinal = 0;
        std::vector<uint32_t> shingles;
        for (const auto& delta : deltas) {
            if (delta.empty()) continue;
            VarintReader in(delta, name());
            if (static_cast<uint8_t>(delta[0]) != kDeltaVersion) in.fail("unknown version");
            in.next();  // skips the version byte (always < 0x80)
            const uint64_t seen = in.next();
            const uint64_t count = in.next();
            for (uint64_t i = 0; i < count; ++i) {
                ordinal += in.next();
                const uint64_t n = in.next();
                if (n > delta.size()) in.fail("bad count");
                shingles.clear();
                uint64_t value = 0;
                for (uint64_t k = 0; k < n; ++k) {
                    value += in.next();
                    if (value > UINT32_MAX || (k > 0 && value == shingles.back())) in.fail("bad hashes");
                    shingles.push_back(static_cast<uint32_t>(value));
                }
                index_->add(shingles);
                ordinals_.push_back(ordinal);
            }
            if (!in.at_end() || ordinal > seen || seen < seen_) in.fail("inconsistent counts");
            seen_ = seen;
        }
        saved_seen_ = seen_;
        last_saved_ordinal_ = ordinal;
        pending_.clear();
        pending_count_ = 0;
    }

  private:
    void append_kept(uint64_t ordinal, const std::vector<uint32_t>& shingles) {
        const uint64_t previous = pending_count_ == 0 ? last_saved_ordinal_ : last_pending_ordinal_;
        put_varint(pending_, ordinal - previous);
        put_varint(pending_, shingles.size());
        uint32_t prev = 0;
        for (uint32_t h : shingles) {
            put_varint(pending_, h - prev);
            prev = h;
        }
        last_pending_ordinal_ = ordinal;
        ++pending_count_;
    }

    Settings s_;
    text::MinHasher hasher_;
    std::unique_ptr<text::MinHashIndex> index_;
    std::vector<uint64_t> ordinals_;  // index item -> 1-based number of the row among those seen
    uint64_t seen_ = 0;
    uint64_t saved_seen_ = 0;
    uint64_t last_saved_ordinal_ = 0;    // ordinal of the last kept row in a delta already taken
    uint64_t last_pending_ordinal_ = 0;  // ordinal of the last kept row in pending_
    std::string pending_;                // encoded kept rows since the last delta
    uint64_t pending_count_ = 0;
};

std::unique_ptr<Block> make_dedup_minhash(const std::string& name, const Json& raw, const BlockEnv&) {
    static const Json schema = Json::parse(kSchema);
    const Json config = detail::apply_defaults(schema, raw);  // the engine does it; direct callers may not
    Settings s;
    s.column = config.at("column").get<std::string>();
    s.threshold = config.at("threshold").get<double>();
    if (!(s.threshold > 0.0 && s.threshold <= 1.0)) throw ConfigError("config.threshold: must be in (0, 1]");
    s.kind = config.at("shingle").get<std::string>() == "char" ? text::ShingleKind::character : text::ShingleKind::word;
    s.ngram = config.at("ngram").get<size_t>();
    if (s.ngram == 0) throw ConfigError("config.ngram: must be at least 1");
    s.num_perm = config.at("num_perm").get<size_t>();
    if (s.num_perm == 0) throw ConfigError("config.num_perm: must be at least 1");
    s.seed = config.at("seed").get<uint64_t>();
    const size_t bands = config.at("bands").get<size_t>(), rows = config.at("rows").get<size_t>();
    if ((bands == 0) != (rows == 0))
        throw ConfigError(fmt::format("config.{}: set bands and rows together, or neither to have them chosen",
                                      bands == 0 ? "bands" : "rows"));
    if (bands == 0) {
        const double fp = config.at("false_positive_weight").get<double>();
        const double fn = config.at("false_negative_weight").get<double>();
        if (fp + fn <= 0.0) throw ConfigError("config.false_negative_weight: the two weights cannot both be 0");
        s.lsh = text::optimal_lsh_params(s.threshold, s.num_perm, fp, fn);
    } else {
        if (bands * rows > s.num_perm)
            throw ConfigError(
                fmt::format("config.bands: bands * rows = {} exceeds num_perm ({})", bands * rows, s.num_perm));
        s.lsh = {bands, rows};
    }
    return std::make_unique<DedupMinHash>(name, std::move(s));
}

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(dedup_minhash,
                          "Drop near-duplicate rows: MinHash LSH candidates verified by shingle Jaccard >= threshold",
                          kSchema, make_dedup_minhash)

}  // namespace synthforge
