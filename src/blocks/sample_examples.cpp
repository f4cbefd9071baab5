// `sample_examples`: builds `count` new rows, each holding a list of examples drawn
// at random from the rows the block sees. It is how few-shot prompts are made from
// a pool: Self-Instruct shows the model 6 seed tasks and 2 machine-made ones in each
// prompt, with seeds making up for a machine pool that is still too small.
//
// Draws are without replacement within a row, seeded by (seed, block name, round,
// row number), so a re-run builds the same prompts and every round of a repeat
// builds new ones. The rows seen are the pool, not records of their own: they are
// used, not emitted (inside a repeat the loop keeps the pool).

#include "seeded_rng.h"
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

#include <fmt/format.h>

#include <optional>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["count", "draws"],
  "properties": {
    "count": {"type": "integer", "minimum": 1, "description": "How many rows to build (e.g. prompts per round)"},
    "column": {"type": "string", "minLength": 1, "default": "examples", "description": "List column receiving the examples"},
    "field": {"type": "string", "description": "Keep only this column of each example (a list of values); default: whole rows"},
    "fields": {"type": "array", "items": {"type": "string"}, "description": "Keep these columns of each example (a list of objects); instead of field"},
    "draws": {
      "type": "array", "minItems": 1,
      "description": "Where examples come from, in order: [{n, where: {column, equals}, fill}]; a draw with fill: true also takes what earlier draws could not find",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["n"],
        "properties": {
          "n": {"type": "integer", "minimum": 0},
          "where": {
            "type": "object", "additionalProperties": false, "required": ["column", "equals"],
            "properties": {"column": {"type": "string"}, "equals": {}}
          },
          "fill": {"type": "boolean", "default": false}
        }
      }
    },
    "shuffle": {"type": "boolean", "default": true, "description": "Mix the order of a row's examples (otherwise: draw order)"},
    "seed": {"type": "integer", "description": "Seed of the draws (default: the run's --seed)"}
  }
})json";

struct Draw {
    uint64_t n = 0;
    std::optional<std::pair<std::string, Json>> where;
    bool fill = false;
};

class SampleExamples final : public Block {
  public:
    SampleExamples(const std::string& name, const Json& config, const BlockEnv& env)
        : Block(name),
          env_(env),
          count_(config.at("count").get<uint64_t>()),
          column_(config.value("column", "examples")) {
        if (config.contains("field") && config.contains("fields"))
            throw ConfigError("config.fields: give field or fields, not both");
        if (config.contains("field")) field_ = config["field"].get<std::string>();
        if (config.contains("fields")) fields_ = config["fields"].get<std::vector<std::string>>();
        shuffle_ = config.value("shuffle", true);
        seed_ = env.seed;
        if (auto it = config.find("seed"); it != config.end())
            seed_ = it->is_number_unsigned() ? it->get<uint64_t>() : static_cast<uint64_t>(it->get<int64_t>());
        for (const auto& d : config.at("draws")) {
            Draw draw;
            draw.n = d.at("n").get<uint64_t>();
            draw.fill = d.value("fill", false);
            if (d.contains("where")) draw.where.emplace(d["where"]["column"].get<std::string>(), d["where"]["equals"]);
            draws_.push_back(std::move(draw));
        }
    }

    void process(std::vector<Record>&&, Emitter&) override {}
    bool needs_all_rows() const override { return true; }

    void finish(const RowSource& all_rows, Emitter& out) override {
        std::vector<Record> pool;
        pool.reserve(all_rows.size());
        all_rows.for_each([&](uint64_t, Record&& r) { pool.push_back(std::move(r)); });
        // Candidates of each draw, as indices into the pool.
        std::vector<std::vector<size_t>> candidates(draws_.size());
        for (size_t i = 0; i < pool.size(); ++i)
            for (size_t d = 0; d < draws_.size(); ++d)
                if (matches(draws_[d], pool[i])) candidates[d].push_back(i);

        const uint64_t round = current_round(env_);
        for (uint64_t k = 0; k < count_; ++k) {
            Rng rng(mix_seed(mix_seed(mix_seed(seed_, name()), round), k));
            std::vector<size_t> chosen;
            uint64_t shortfall = 0;
            for (size_t d = 0; d < draws_.size(); ++d) {
                uint64_t want = draws_[d].n + (draws_[d].fill ? shortfall : 0);
                if (draws_[d].fill) shortfall = 0;
                // Rows an earlier draw took are not drawn twice.
                std::vector<size_t> free;
                for (size_t i : candidates[d])
                    if (std::find(chosen.begin(), chosen.end(), i) == chosen.end()) free.push_back(i);
                uint64_t take = std::min<uint64_t>(want, free.size());
                rng.sample_prefix(free, take);
                chosen.insert(chosen.end(), free.begin(), free.begin() + static_cast<std::ptrdiff_t>(take));
                shortfall += want - take;
            }
            if (shuffle_) rng.sample_prefix(chosen, chosen.size());
            Json examples = Json::array();
            for (size_t i : chosen) examples.push_back(project(pool[i]));
            out.emit(Record{{column_, std::move(examples)}});
        }
    }

  private:
    static bool matches(const Draw& d, const Record& row) {
        if (!d.where) return true;
        if (!row.is_object()) return false;
        auto it = row.find(d.where->first);
        return it != row.end() && *it == d.where->second;
    }

    Json project(const Record& row) const {
        if (field_) return row.is_object() ? row.value(*field_, Json()) : Json();
        if (fields_.empty()) return row;
        Json o = Json::object();
        for (const auto& f : fields_) o[f] = row.is_object() ? row.value(f, Json()) : Json();
        return o;
    }

    BlockEnv env_;
    uint64_t count_;
    std::string column_;
    std::optional<std::string> field_;
    std::vector<std::string> fields_;
    bool shuffle_ = true;
    uint64_t seed_ = 0;
    std::vector<Draw> draws_;
};

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(sample_examples, "Build rows of few-shot examples drawn at random from the rows seen",
                          kSchema,
                          [](const std::string& name, const Json& config, const BlockEnv& env)
                              -> std::unique_ptr<Block> { return std::make_unique<SampleExamples>(name, config, env); })

}  // namespace synthforge
