// `leakage`: how close each output comes to the private or seed records it was made from.
// For every row: the most similar reference record by ROUGE-L F1, the longest run of tokens
// shared with any reference record, the MinHash-verified word-shingle Jaccard of the closest
// near-duplicate, and any planted canary string found in the text. Bounds turn the figures
// into rejections; without bounds the block only measures (the report charts the column).
#include "synthforge/data/reader.h"
#include "synthforge/engine/flow_files.h"
#include "synthforge/engine/registry.h"
#include "synthforge/engine/template.h"
#include "synthforge/errors.h"
#include "synthforge/text/common_run.h"
#include "synthforge/text/minhash.h"
#include "synthforge/text/rouge.h"

#include <fmt/format.h>

#include <fstream>
#include <optional>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "reference": {"type": "string", "description": "File of the private or seed records (JSONL, JSON, CSV or text; relative to the flow)"},
    "reference_inputs": {"type": "boolean", "default": false, "description": "Compare with the run's own input files instead of `reference` (what privacy levels do); a run without input files has nothing to compare and passes every row"},
    "reference_field": {"type": "string", "default": "text", "description": "Column or Jinja template of the reference records' text; \"*\": every string in the record, joined by newlines"},
    "field": {"type": "string", "default": "output", "description": "Column or Jinja template of each row's text"},
    "output": {"type": "string", "default": "leakage", "description": "Column receiving {rougel, rougel_row, common_run, common_run_row, jaccard, jaccard_row, canaries}; empty: none"},
    "max_rougel": {"type": "number", "minimum": 0, "maximum": 1, "description": "Reject rows whose ROUGE-L F1 with a reference record is above this"},
    "max_common_run": {"type": "integer", "minimum": 1, "description": "Reject rows sharing a run of at least this many tokens with a reference record"},
    "max_jaccard": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "description": "Reject rows whose word 5-shingle Jaccard with a reference record is at least this"},
    "jaccard_floor": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.5, "description": "Jaccard values below this are reported as 0 (MinHash finds pairs from here up)"},
    "canaries": {"type": "string", "description": "File of canary strings, one per line (see synthforge privacy canary): rows containing one are rejected"}
  }
})json";

// Every string in a record (nested ones too), in order, one per line.
std::string all_strings(const Json& value) {
    if (value.is_string()) return value.get<std::string>();
    std::string out;
    if (value.is_object() || value.is_array())
        for (const auto& v : value) {
            std::string s = all_strings(v);
            if (s.empty()) continue;
            if (!out.empty()) out += '\n';
            out += s;
        }
    return out;
}

class LeakageBlock final : public Block {
  public:
    LeakageBlock(const std::string& name, const Json& config, const BlockEnv& env)
        : Block(name),
          hasher_(128, 1),
          field_(compile_column_or_template(config.value("field", "output"), "config.field")) {
        output_ = config.value("output", "leakage");
        if (config.contains("max_rougel")) max_rougel_ = config["max_rougel"].get<double>();
        if (config.contains("max_common_run")) max_run_ = config["max_common_run"].get<size_t>();
        if (config.contains("max_jaccard")) max_jaccard_ = config["max_jaccard"].get<double>();
        const double floor = std::min(config.value("jaccard_floor", 0.5), max_jaccard_.value_or(1.0));
        jaccard_ = std::make_unique<text::MinHashIndex>(hasher_, text::optimal_lsh_params(floor, 128, 0.1, 0.9), floor);

        const bool from_inputs = config.value("reference_inputs", false);
        if (from_inputs == config.contains("reference"))
            throw ConfigError(
                "config.reference: name the file of private or seed records in `reference`, or set "
                "`reference_inputs: true` to compare with the run's input files (one of the two)");
        std::vector<std::filesystem::path> refs;
        if (from_inputs) {
            refs = env.input_paths;
        } else {
            refs.push_back(resolve_flow_file(env, config["reference"].get<std::string>(), "config.reference"));
            std::error_code ec;
            if (!std::filesystem::is_regular_file(refs.front(), ec))
                throw ConfigError("config.reference: no such file: " + refs.front().string());
        }
        const std::string ref_field = config.value("reference_field", "text");
        std::optional<Template> ref_text;
        if (ref_field != "*") ref_text = compile_column_or_template(ref_field, "config.reference_field");
        for (const auto& ref : refs) {
            const std::vector<Record> records = read_all(ref);
            for (size_t i = 0; i < records.size(); ++i) {
                std::string t;
                try {
                    t = ref_text ? ref_text->render(records[i]) : all_strings(records[i]);
                } catch (const TemplateError& e) {
                    throw ConfigError(
                        fmt::format("config.reference_field: record {} of {}: {}", i + 1, ref.string(), e.what()));
                }
                std::vector<uint32_t> ids = vocab_.encode(t);
                rouge_.add(ids);
                runs_.add(ids);
                jaccard_->add(text::shingle_hashes(t, text::ShingleKind::word, 5));
            }
            if (records.empty() && !from_inputs)
                throw ConfigError("config.reference: " + ref.string() + " holds no records");
        }
        if (config.contains("canaries")) {
            canaries_ = read_line_list(env, config["canaries"].get<std::string>(), "config.canaries");
            canary_found_.assign(canaries_.size(), false);
        }
    }

    void process(std::vector<Record>&& rows, Emitter& out) override {
        for (auto& row : rows) {
            std::string t;
            try {
                t = field_.render(row);
            } catch (const TemplateError& e) {
                out.reject(std::move(row), e.what());
                continue;
            }
            // Query tokens unknown to the references can never match: encode them all the same
            // (new ids), the indexes simply find nothing for them.
            const std::vector<uint32_t> ids = vocab_.encode(t);
            const auto best = rouge_.max_f1(ids);
            const auto run = runs_.longest(ids);
            const auto near = jaccard_->query(text::shingle_hashes(t, text::ShingleKind::word, 5));
            Json found = Json::array();
            for (size_t c = 0; c < canaries_.size(); ++c)
                if (t.find(canaries_[c]) != std::string::npos) {
                    found.push_back(canaries_[c]);
                    canary_found_[c] = true;
                }
            const auto row_no = [](size_t item) { return item == text::RougeLIndex::npos ? Json() : Json(item + 1); };
            if (!output_.empty() && row.is_object())
                row[output_] = {{"rougel", best.f1},        {"rougel_row", row_no(best.item)},
                                {"common_run", run.length}, {"common_run_row", row_no(run.item)},
                                {"jaccard", near.jaccard},  {"jaccard_row", row_no(near.item)},
                                {"canaries", found}};
            std::string why;
            if (!found.empty())
                why = fmt::format("canary leaked: {}", found[0].get<std::string>());
            else if (max_rougel_ && best.f1 > *max_rougel_)
                why = fmt::format("ROUGE-L F1 {:.3f} with reference record {} (> {})", best.f1, best.item + 1,
                                  *max_rougel_);
            else if (max_run_ && run.length >= *max_run_)
                why = fmt::format("shares a run of {} tokens with reference record {} (>= {})", run.length,
                                  run.item + 1, *max_run_);
            else if (max_jaccard_ && near.item != text::MinHashIndex::npos && near.jaccard >= *max_jaccard_)
                why = fmt::format("Jaccard {:.3f} with reference record {} (>= {})", near.jaccard, near.item + 1,
                                  *max_jaccard_);
            ++checked_;
            if (why.empty()) {
                out.emit(std::move(row));
            } else {
                ++rejected_;
                out.reject(std::move(row), std::move(why));
            }
        }
    }

    Json metrics() const override {
        size_t leaked = 0;
        for (bool b : canary_found_) leaked += b;
        return {{"reference_records", rouge_.size()},
                {"checked", checked_},
                {"rejected", rejected_},
                {"canaries", canaries_.size()},
                {"canaries_leaked", leaked}};
    }

  private:
    text::TokenVocab vocab_;
    text::RougeLIndex rouge_;
    text::CommonRunIndex runs_;
    text::MinHasher hasher_;
    std::unique_ptr<text::MinHashIndex> jaccard_;
    Template field_;
    std::string output_;
    std::optional<double> max_rougel_, max_jaccard_;
    std::optional<size_t> max_run_;
    std::vector<std::string> canaries_;
    std::vector<bool> canary_found_;
    uint64_t checked_ = 0, rejected_ = 0;
};

const bool registered = [] {
    BlockRegistry::global().add(
        {"leakage",
         "Measure each row's closeness to private or seed records (ROUGE-L, longest shared run, Jaccard, canaries); "
         "bounds reject",
         Json::parse(kSchema),
         [](const std::string& name, const Json& config, const BlockEnv& env) -> std::unique_ptr<Block> {
             return std::make_unique<LeakageBlock>(name, config, env);
         }});
    return true;
}();

}  // namespace
}  // namespace synthforge
