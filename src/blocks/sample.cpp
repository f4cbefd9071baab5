// `sample`: keeps k rows chosen uniformly at random out of all rows that reach it.
// Selection sampling (Knuth's algorithm S) decides row by row, in arrival order,
// with the exact probability (still needed / still left); so the output keeps the
// input order, memory stays constant, and every k-subset is equally likely.
// The random numbers come from seeded_rng.h: the same on every machine.

#include "seeded_rng.h"
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["k"],
  "properties": {
    "k": {
      "description": "How many rows to keep; all rows are kept when there are k or fewer",
      "type": "integer",
      "minimum": 0
    },
    "seed": {
      "description": "Seed of the random choice (default: the run's --seed); same seed + same input = same sample",
      "type": "integer"
    }
  }
})json";

class SampleBlock final : public Block {
  public:
    SampleBlock(std::string name, uint64_t k, uint64_t seed, const uint64_t* round)
        : Block(std::move(name)), k_(k), seed_(seed), round_(round) {}

    bool needs_all_rows() const override { return true; }

    void process(std::vector<Record>&&, Emitter&) override {
        throw std::logic_error("sample is a barrier block: its rows arrive through finish()");
    }

    void finish(const RowSource& all_rows, Emitter& out) override {
        const uint64_t n = all_rows.size();
        const std::string reason =
            "not in the sample of k=" + std::to_string(k_) + " from " + std::to_string(n) + " rows";
        // Inside a repeat every round draws its own sample.
        Rng rng(round_ && *round_ ? mix_seed(seed_, *round_) : seed_);
        uint64_t seen = 0;
        uint64_t chosen = 0;
        all_rows.for_each([&](uint64_t, Record&& row) {
            const uint64_t left = n > seen ? n - seen : 1;
            const uint64_t needed = k_ > chosen ? k_ - chosen : 0;
            ++seen;
            // Draw only while the outcome is open, so k >= n never touches the generator.
            bool take;
            if (needed == 0)
                take = false;
            else if (needed >= left)
                take = true;
            else
                take = rng.below(left) < needed;
            if (take) {
                ++chosen;
                out.emit(std::move(row));
            } else {
                out.reject(std::move(row), reason);
            }
        });
    }

  private:
    uint64_t k_;
    uint64_t seed_;
    const uint64_t* round_;
};

std::unique_ptr<Block> make_sample(const std::string& name, const Json& config, const BlockEnv& env) {
    const auto& k = config.at("k");
    if (!k.is_number_integer() || (!k.is_number_unsigned() && k.get<int64_t>() < 0))
        throw ConfigError("config.k: must be an integer >= 0");
    uint64_t seed = env.seed;
    if (auto it = config.find("seed"); it != config.end() && !it->is_null()) {
        if (!it->is_number_integer()) throw ConfigError("config.seed: must be an integer");
        // A negative seed is as good as any: take its two's complement bits.
        seed = it->is_number_unsigned() ? it->get<uint64_t>() : static_cast<uint64_t>(it->get<int64_t>());
    }
    return std::make_unique<SampleBlock>(name, k.get<uint64_t>(), seed, env.round);
}

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(sample, "Keep k rows chosen uniformly at random (seeded, input order kept)", kSchema,
                          make_sample)

}  // namespace synthforge
