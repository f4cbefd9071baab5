// `pick`: writes a column with items drawn at random from a list in the flow or
// from a file (one item per line): an Evol-Instruct operation per instruction, K
// distinct vocabulary words per story, a style or an audience per prompt.
//
// Each row's draw is seeded by (seed, block name, round, the row's content), so it
// does not depend on batch boundaries or on resume, and every round of a repeat
// draws anew.

#include "seeded_rng.h"
#include "synthforge/engine/flow_files.h"
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

#include <fmt/format.h>

#include <fstream>
#include <numeric>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["column"],
  "properties": {
    "column": {"type": "string", "minLength": 1, "description": "Column to write"},
    "from": {"type": "array", "minItems": 1, "description": "Items to draw from (any JSON values); one of from/from_file"},
    "from_file": {"type": "string", "description": "Text file with one item per line (relative to the flow; blank lines and lines starting with # are skipped)"},
    "count": {"type": "integer", "minimum": 1, "default": 1, "description": "How many items; 1 writes the item itself, more write a list"},
    "as_list": {"type": "boolean", "default": false, "description": "Write a list even when count is 1"},
    "distinct": {"type": "boolean", "default": true, "description": "No item twice in one row"},
    "weights": {"type": "array", "items": {"type": "number", "minimum": 0}, "description": "Relative weight of each item of from (same length); with count 1 or distinct: false"},
    "seed": {"type": "integer", "description": "Seed of the draws (default: the run's --seed)"}
  }
})json";

class Pick final : public Block {
  public:
    Pick(const std::string& name, const Json& config, const BlockEnv& env)
        : Block(name), env_(env), column_(config.at("column").get<std::string>()) {
        if (config.contains("from") == config.contains("from_file"))
            throw ConfigError("config: give one of from or from_file");
        if (config.contains("from")) {
            items_ = config["from"].get<std::vector<Json>>();
        } else {
            const std::string file = config["from_file"].get<std::string>();
            for (auto& item : read_line_list(env, file, "config.from_file")) items_.emplace_back(std::move(item));
            if (items_.empty()) throw ConfigError("config.from_file: " + file + " holds no items");
        }
        count_ = config.value("count", uint64_t{1});
        as_list_ = config.value("as_list", false) || count_ > 1;
        distinct_ = config.value("distinct", true);
        if (distinct_ && count_ > items_.size())
            throw ConfigError(
                fmt::format("config.count: {} distinct items asked, only {} to draw from", count_, items_.size()));
        if (config.contains("weights")) {
            weights_ = config["weights"].get<std::vector<double>>();
            if (weights_.size() != items_.size())
                throw ConfigError(
                    fmt::format("config.weights: {} weights for {} items", weights_.size(), items_.size()));
            if (distinct_ && count_ > 1)
                throw ConfigError("config.weights: weighted draws need count 1 or distinct: false");
            if (std::accumulate(weights_.begin(), weights_.end(), 0.0) <= 0)
                throw ConfigError("config.weights: at least one weight must be positive");
        }
        seed_ = env.seed;
        if (auto it = config.find("seed"); it != config.end())
            seed_ = it->is_number_unsigned() ? it->get<uint64_t>() : static_cast<uint64_t>(it->get<int64_t>());
    }

    void process(std::vector<Record>&& rows, Emitter& out) override {
        const uint64_t base = mix_seed(mix_seed(seed_, name()), current_round(env_));
        for (auto& row : rows) {
            if (!row.is_object()) {
                out.reject(std::move(row), "record is not an object");
                continue;
            }
            Rng rng(mix_seed(base, row.dump()));
            Json picked = Json::array();
            if (distinct_) {
                std::vector<size_t> idx(items_.size());
                std::iota(idx.begin(), idx.end(), size_t{0});
                if (!weights_.empty()) {
                    picked.push_back(items_[weighted(rng)]);
                } else {
                    rng.sample_prefix(idx, count_);
                    for (uint64_t i = 0; i < count_; ++i) picked.push_back(items_[idx[i]]);
                }
            } else {
                for (uint64_t i = 0; i < count_; ++i)
                    picked.push_back(items_[weights_.empty() ? rng.below(items_.size()) : weighted(rng)]);
            }
            row[column_] = as_list_ ? std::move(picked) : std::move(picked[0]);
            out.emit(std::move(row));
        }
    }

  private:
    size_t weighted(Rng& rng) const {
        double total = std::accumulate(weights_.begin(), weights_.end(), 0.0);
        double x = rng.unit() * total;
        for (size_t i = 0; i < weights_.size(); ++i) {
            if (x < weights_[i]) return i;
            x -= weights_[i];
        }
        // Rounding left x at the very top: the last item with weight.
        for (size_t i = weights_.size(); i-- > 0;)
            if (weights_[i] > 0) return i;
        return 0;
    }

    BlockEnv env_;
    std::string column_;
    std::vector<Json> items_;
    std::vector<double> weights_;
    uint64_t count_ = 1;
    bool as_list_ = false;
    bool distinct_ = true;
    uint64_t seed_ = 0;
};

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(pick, "Write a column with items drawn at random (seeded) from a list or a file", kSchema,
                          [](const std::string& name, const Json& config, const BlockEnv& env)
                              -> std::unique_ptr<Block> { return std::make_unique<Pick>(name, config, env); })

}  // namespace synthforge
