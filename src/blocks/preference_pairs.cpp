// preference_pairs: turns scored responses into (chosen, rejected) pairs for preference
// training (DPO and the like): the best-scoring response is chosen, the worst rejected, and a
// pair whose scores are closer than `margin` is rejected as too weak a preference.
//
// The responses of one instruction come as a list in one row (`responses` + `scores`, as the
// reward block writes for a list of responses), as two or more columns of one row, or as rows
// of their own (`group_by`, e.g. llm_generate with n > 1, one row per sample), which makes the
// block a barrier: a group is complete only once every row has arrived.
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "responses": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "array", "minItems": 2, "items": {"type": "string", "minLength": 1}}],
                  "description": "A column holding a list of responses, or two or more columns holding one response each", "default": "responses"},
    "scores": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "array", "minItems": 2, "items": {"type": "string", "minLength": 1}}],
               "description": "A column holding the list of their scores, or the score columns aligned with responses", "default": "rewards"},
    "group_by": {"type": "string", "minLength": 1,
                 "description": "Rows sharing this column's value are one instruction's responses (one per row, in `response` and `score`); the group becomes one row"},
    "response": {"type": "string", "minLength": 1, "default": "output", "description": "group_by: each row's response column"},
    "score": {"type": "string", "minLength": 1, "default": "reward", "description": "group_by: each row's score column"},
    "margin": {"type": "number", "minimum": 0, "default": 0,
               "description": "The chosen response must score more than this above the rejected one; closer pairs (and ties) are rejected"},
    "chosen_column": {"type": "string", "minLength": 1, "default": "chosen"},
    "rejected_column": {"type": "string", "minLength": 1, "default": "rejected"},
    "chosen_score_column": {"type": "string", "default": "chosen_score", "description": "Column receiving the chosen response's score; empty: none"},
    "rejected_score_column": {"type": "string", "default": "rejected_score", "description": "Column receiving the rejected response's score; empty: none"}
  }
})json";

std::string show(double v) {
    return fmt::format("{:.4g}", v);
}

class PreferencePairs final : public Block {
  public:
    PreferencePairs(const std::string& name, const Json& config, const BlockEnv&) : Block(name) {
        if (config.contains("group_by")) {
            group_by_ = config["group_by"].get<std::string>();
            for (const char* key : {"responses", "scores"})
                if (config.contains(key) &&
                    config[key] != Json(key == std::string("responses") ? "responses" : "rewards"))
                    throw ConfigError(
                        fmt::format("config.{}: not used with group_by (each row's response and score "
                                    "are in `response` and `score`)",
                                    key));
            response_ = config.value("response", "output");
            score_ = config.value("score", "reward");
        } else {
            const Json responses = config.value("responses", Json("responses"));
            const Json scores = config.value("scores", Json("rewards"));
            if (responses.is_array() != scores.is_array())
                throw ConfigError(
                    "config.scores: give a list column for a list column (responses), or as many score "
                    "columns as response columns");
            if (responses.is_array()) {
                response_columns_ = responses.get<std::vector<std::string>>();
                score_columns_ = scores.get<std::vector<std::string>>();
                if (response_columns_.size() != score_columns_.size())
                    throw ConfigError(fmt::format("config.scores: {} score columns for {} response columns",
                                                  score_columns_.size(), response_columns_.size()));
            } else {
                response_ = responses.get<std::string>();
                score_ = scores.get<std::string>();
            }
            if (config.value("response", "output") != "output" || config.value("score", "reward") != "reward")
                throw ConfigError(
                    "config.response: response and score name each row's columns with group_by; "
                    "without it, use responses and scores");
        }
        margin_ = config.value("margin", 0.0);
        chosen_ = config.value("chosen_column", "chosen");
        rejected_ = config.value("rejected_column", "rejected");
        chosen_score_ = config.value("chosen_score_column", "chosen_score");
        rejected_score_ = config.value("rejected_score_column", "rejected_score");
        if (chosen_ == rejected_)
            throw ConfigError("config.chosen_column: chosen_column and rejected_column need two different names");
    }

    bool needs_all_rows() const override { return !group_by_.empty(); }

    void process(std::vector<Record>&& rows, Emitter& out) override {
        for (auto& row : rows) {
            std::vector<Json> responses;
            std::vector<double> scores;
            if (std::string why = read_row(row, responses, scores); !why.empty()) {
                out.reject(std::move(row), "preference_pairs: " + why);
                continue;
            }
            pair_up(std::move(row), responses, scores, out);
        }
    }

    void finish(const RowSource& all_rows, Emitter& out) override {
        // Groups in order of their first row, so the output order follows the input.
        std::map<std::string, size_t> index;
        struct Group {
            Record first;
            std::vector<Json> responses;
            std::vector<double> scores;
        };
        std::vector<Group> groups;
        all_rows.for_each([&](uint64_t, Record&& row) {
            std::string why;
            const Json* key = row.is_object() && row.contains(group_by_) ? &row[group_by_] : nullptr;
            if (!key)
                why = fmt::format("the group_by column '{}' is missing", group_by_);
            else if (!row.contains(response_))
                why = fmt::format("the response column '{}' is missing", response_);
            else if (!row.contains(score_) || !row[score_].is_number() || !std::isfinite(row[score_].get<double>()))
                why = fmt::format("the score column '{}' is missing or not a number", score_);
            if (!why.empty()) {
                out.reject(std::move(row), "preference_pairs: " + why);
                return;
            }
            auto [it, added] = index.emplace(key->dump(), groups.size());
            if (added) groups.emplace_back();
            Group& g = groups[it->second];
            g.responses.push_back(row[response_]);
            g.scores.push_back(row[score_].get<double>());
            if (added) {
                row.erase(response_);
                row.erase(score_);
                g.first = std::move(row);
            }
        });
        for (auto& g : groups) {
            g.first["n_responses"] = g.responses.size();
            pair_up(std::move(g.first), g.responses, g.scores, out);
        }
    }

    Json metrics() const override {
        return {{"pairs", pairs_}, {"below_margin", below_margin_}, {"too_few", too_few_}};
    }

  private:
    // A row's responses and scores (row modes); the reason when they cannot be read.
    std::string read_row(const Record& row, std::vector<Json>& responses, std::vector<double>& scores) const {
        if (!row.is_object()) return "the record is not an object";
        auto number = [](const Json& v) { return v.is_number() && std::isfinite(v.get<double>()); };
        if (!response_columns_.empty()) {
            for (size_t k = 0; k < response_columns_.size(); ++k) {
                if (!row.contains(response_columns_[k]))
                    return fmt::format("the response column '{}' is missing", response_columns_[k]);
                if (!row.contains(score_columns_[k]) || !number(row[score_columns_[k]]))
                    return fmt::format("the score column '{}' is missing or not a number", score_columns_[k]);
                responses.push_back(row[response_columns_[k]]);
                scores.push_back(row[score_columns_[k]].get<double>());
            }
            return {};
        }
        if (!row.contains(response_) || !row[response_].is_array())
            return fmt::format("the column '{}' does not hold a list of responses", response_);
        if (!row.contains(score_) || !row[score_].is_array())
            return fmt::format("the column '{}' does not hold a list of scores", score_);
        const Json& rs = row[response_];
        const Json& ss = row[score_];
        if (rs.size() != ss.size())
            return fmt::format("{} responses but {} scores ('{}', '{}')", rs.size(), ss.size(), response_, score_);
        for (size_t k = 0; k < rs.size(); ++k) {
            if (!number(ss[k])) return fmt::format("score {} of '{}' is not a number", k, score_);
            responses.push_back(rs[k]);
            scores.push_back(ss[k].get<double>());
        }
        return {};
    }

    // Best against worst; on equal scores the earlier response wins (stable across runs).
    void pair_up(Record row, const std::vector<Json>& responses, const std::vector<double>& scores, Emitter& out) {
        if (responses.size() < 2) {
            ++too_few_;
            out.reject(std::move(row), fmt::format("preference_pairs: {} response{}, a pair needs two",
                                                   responses.size(), responses.size() == 1 ? "" : "s"));
            return;
        }
        size_t best = 0, worst = 0;
        for (size_t k = 1; k < scores.size(); ++k) {
            if (scores[k] > scores[best]) best = k;
            if (scores[k] < scores[worst]) worst = k;
        }
        if (best == worst) worst = best == 0 ? 1 : 0;  // every score equal
        row[chosen_] = responses[best];
        row[rejected_] = responses[worst];
        if (!chosen_score_.empty()) row[chosen_score_] = scores[best];
        if (!rejected_score_.empty()) row[rejected_score_] = scores[worst];
        const double gap = scores[best] - scores[worst];
        if (!(gap > margin_)) {
            ++below_margin_;
            out.reject(std::move(row),
                       gap == 0 ? fmt::format("preference_pairs: tie, every response scores {}", show(scores[best]))
                                : fmt::format("preference_pairs: score gap {} <= margin {} ({} vs {})", show(gap),
                                              show(margin_), show(scores[best]), show(scores[worst])));
            return;
        }
        ++pairs_;
        out.emit(std::move(row));
    }

    std::string group_by_, response_ = "responses", score_ = "rewards";
    std::vector<std::string> response_columns_, score_columns_;
    double margin_ = 0;
    std::string chosen_, rejected_, chosen_score_, rejected_score_;
    uint64_t pairs_ = 0, below_margin_ = 0, too_few_ = 0;
};

std::unique_ptr<Block> make_preference_pairs(const std::string& name, const Json& config, const BlockEnv& env) {
    return std::make_unique<PreferencePairs>(name, config, env);
}

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(preference_pairs,
                          "Turn scored responses into (chosen, rejected) pairs: best against worst, with a margin",
                          kSchema, make_preference_pairs)

}  // namespace synthforge
