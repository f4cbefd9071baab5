// `sample`: keeps k rows chosen uniformly at random out of all rows that reach it.
// Selection sampling (Knuth's algorithm S) decides row by row, in arrival order,
// with the exact probability (still needed / still left); so the output keeps the
// input order, memory stays constant, and every k-subset is equally likely.
//
// Reproducibility: the random numbers come from std::mt19937_64, whose output
// sequence the C++ standard fixes, reduced to a range with Lemire's method in our
// own code (std::uniform_int_distribution differs between standard libraries).

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

class Rng {
  public:
    explicit Rng(uint64_t seed) : gen_(seed) {}

    // Uniform in [0, bound), bound > 0, without modulo bias (Lemire 2019: multiply,
    // and redraw only in the rare case the low half falls in the biased zone).
    uint64_t below(uint64_t bound) {
        unsigned __int128 m = static_cast<unsigned __int128>(gen_()) * bound;
        auto low = static_cast<uint64_t>(m);
        if (low < bound) {
            const uint64_t threshold = (0 - bound) % bound;
            while (low < threshold) {
                m = static_cast<unsigned __int128>(gen_()) * bound;
                low = static_cast<uint64_t>(m);
            }
        }
        return static_cast<uint64_t>(m >> 64);
    }

  private:
    std::mt19937_64 gen_;
};

class SampleBlock final : public Block {
  public:
    SampleBlock(std::string name, uint64_t k, uint64_t seed) : Block(std::move(name)), k_(k), seed_(seed) {}

    bool needs_all_rows() const override { return true; }

    void process(std::vector<Record>&&, Emitter&) override {
        throw std::logic_error("sample is a barrier block: its rows arrive through finish()");
    }

    void finish(const RowSource& all_rows, Emitter& out) override {
        const uint64_t n = all_rows.size();
        const std::string reason =
            "not in the sample of k=" + std::to_string(k_) + " from " + std::to_string(n) + " rows";
        Rng rng(seed_);
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
    return std::make_unique<SampleBlock>(name, k.get<uint64_t>(), seed);
}

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(sample, "Keep k rows chosen uniformly at random (seeded, input order kept)", kSchema,
                          make_sample)

}  // namespace synthforge
