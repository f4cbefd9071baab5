// dedup_rougel: Self-Instruct's novelty rule. A row is kept only when the ROUGE-L F1
// of its text against every row kept before it is <= threshold; the first of each
// group of near-duplicates wins. Scores equal the rouge_score package's.
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"
#include "synthforge/text/rouge.h"

#include <fmt/format.h>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["column"],
  "properties": {
    "column": {"type": "string", "minLength": 1, "description": "Text column compared (e.g. instruction)"},
    "threshold": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.7,
                  "description": "A row whose ROUGE-L F1 with a kept row is above this is rejected (Self-Instruct: 0.7)"}
  }
})json";

// The start of a kept text, for a reason a person can read without looking it up.
std::string snippet(const std::string& text) {
    constexpr size_t kMax = 80;
    if (text.size() <= kMax) return text;
    size_t cut = kMax;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
    return text.substr(0, cut) + "...";
}

class DedupRougeL : public Block {
  public:
    DedupRougeL(const std::string& name, const Json& config)
        : Block(name), column_(config.at("column").get<std::string>()), threshold_(config.value("threshold", 0.7)) {}

    void process(std::vector<Record>&& rows, Emitter& out) override {
        for (auto& row : rows) {
            ++seen_;
            auto it = row.find(column_);
            if (it == row.end() || !it->is_string()) {
                out.reject(std::move(row), it == row.end() ? "missing column '" + column_ + "'"
                                                           : fmt::format("column '{}' is not a string (got {})",
                                                                         column_, json_type_name(*it)));
                continue;
            }
            const std::string& text = it->get_ref<const std::string&>();
            std::vector<uint32_t> tokens = vocab_.encode(text);
            if (index_.any_above(tokens, threshold_)) {
                // The reason names the closest kept row (lowest on ties): unlike the first hit
                // any_above finds, that does not depend on token ids, which differ after a resume.
                auto best = index_.max_f1(tokens);
                out.reject(std::move(row),
                           fmt::format("ROUGE-L F1 {:.3f} with row {} (\"{}\") on {} (> {})", best.f1,
                                       ordinals_[best.item], snippet(texts_[best.item]), column_, threshold_));
                continue;
            }
            index_.add(std::move(tokens));
            ordinals_.push_back(seen_);
            texts_.push_back(text);
            delta_.push_back({text, seen_});
            out.emit(std::move(row));
        }
    }

    // The state is the kept texts with their row numbers; a resume re-tokenises them.
    std::string take_state_delta() override {
        if (delta_.empty() && seen_ == seen_at_last_delta_) return {};
        Json d = {{"seen", seen_}, {"kept", Json::array()}};
        for (auto& [text, ordinal] : delta_) d["kept"].push_back({text, ordinal});
        delta_.clear();
        seen_at_last_delta_ = seen_;
        return d.dump();
    }

    void restore_state(const std::vector<std::string>& deltas) override {
        for (const auto& raw : deltas) {
            Json d = Json::parse(raw, nullptr, false);
            if (d.is_discarded() || !d.contains("kept"))
                throw RunError("dedup_rougel '" + name() + "': its saved state in the run store is damaged");
            for (const auto& k : d["kept"]) {
                index_.add(vocab_.encode(k[0].get<std::string>()));
                ordinals_.push_back(k[1].get<uint64_t>());
                texts_.push_back(k[0].get<std::string>());
            }
            seen_ = d["seen"].get<uint64_t>();
        }
        seen_at_last_delta_ = seen_;
    }

  private:
    std::string column_;
    double threshold_;
    text::TokenVocab vocab_;
    text::RougeLIndex index_;
    std::vector<uint64_t> ordinals_;  // index item -> 1-based number of the row among those seen
    std::vector<std::string> texts_;  // index item -> its text, quoted in reasons
    uint64_t seen_ = 0;
    uint64_t seen_at_last_delta_ = 0;
    std::vector<std::pair<std::string, uint64_t>> delta_;
};

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(dedup_rougel, "Keep a row only if its ROUGE-L F1 with every kept row is <= threshold",
                          kSchema,
                          [](const std::string& name, const Json& config, const BlockEnv&) -> std::unique_ptr<Block> {
                              return std::make_unique<DedupRougeL>(name, config);
                          })

}  // namespace synthforge
