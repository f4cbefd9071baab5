// quality_filter: heuristic document-quality rules on one text column. Each rule is off
// until configured; `true` turns a rule on with the threshold of the Gopher/MassiveText
// filters (Rae et al. 2021, appendix A), a number sets the threshold. A row failing any
// rule is rejected with a reason naming the rule, the measured value and the limit; the
// optional scores column shows every computed metric.
#include "engine/schema_check.h"
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"
#include "synthforge/text/normalize.h"
#include "synthforge/text/text_stats.h"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <optional>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["column"],
  "properties": {
    "column": {"type": "string", "minLength": 1, "description": "Text column checked"},
    "min_chars": {"type": "integer", "minimum": 0, "default": 0,
                  "description": "Reject texts with fewer characters (Unicode code points); 0: no minimum"},
    "max_chars": {"type": ["integer", "null"], "minimum": 0, "default": null,
                  "description": "Reject texts with more characters; null: no maximum"},
    "min_words": {"type": "integer", "minimum": 0, "default": 0,
                  "description": "Reject texts with fewer whitespace-separated words; 0: no minimum"},
    "max_words": {"type": ["integer", "null"], "minimum": 0, "default": null,
                  "description": "Reject texts with more words; null: no maximum"},
    "max_duplicate_line_fraction": {"type": ["number", "boolean"], "minimum": 0, "maximum": 1, "default": false,
      "description": "Reject when more than this fraction of the non-blank lines occur more than once (every copy counts); true: Gopher's 0.30"},
    "max_duplicate_line_char_fraction": {"type": ["number", "boolean"], "minimum": 0, "maximum": 1, "default": false,
      "description": "Reject when duplicate lines hold more than this fraction of the characters of all lines; true: Gopher's 0.20"},
    "max_top_ngram_char_fraction": {"type": ["number", "boolean", "object"], "minimum": 0, "maximum": 1, "default": false,
      "additionalProperties": false,
      "properties": {"2": {"type": "number", "minimum": 0, "maximum": 1}, "3": {"type": "number", "minimum": 0, "maximum": 1},
                     "4": {"type": "number", "minimum": 0, "maximum": 1}},
      "description": "Reject when the most frequent repeated word n-gram covers more than this fraction of the characters, for n = 2, 3, 4; true: Gopher's 0.20, 0.18, 0.16; a number: the same limit for each n; an object like {\"2\": 0.2}: only those n"},
    "max_duplicate_ngram_char_fraction": {"type": ["number", "boolean", "object"], "minimum": 0, "maximum": 1, "default": false,
      "additionalProperties": false,
      "properties": {"5": {"type": "number", "minimum": 0, "maximum": 1}, "6": {"type": "number", "minimum": 0, "maximum": 1},
                     "7": {"type": "number", "minimum": 0, "maximum": 1}, "8": {"type": "number", "minimum": 0, "maximum": 1},
                     "9": {"type": "number", "minimum": 0, "maximum": 1}, "10": {"type": "number", "minimum": 0, "maximum": 1}},
      "description": "Reject when word n-grams occurring more than once cover more than this fraction of the characters, for n = 5..10; true: Gopher's 0.15, 0.14, 0.13, 0.12, 0.11, 0.10; a number: the same limit for each n; an object like {\"5\": 0.15}: only those n"},
    "max_symbol_word_ratio": {"type": ["number", "boolean"], "minimum": 0, "default": false,
      "description": "Reject when '#' characters, or ellipses ('...' or U+2026), per word exceed this; true: Gopher's 0.1"},
    "min_alpha_word_fraction": {"type": ["number", "boolean"], "minimum": 0, "maximum": 1, "default": false,
      "description": "Reject when fewer than this fraction of the words contain a letter; true: Gopher's 0.8"},
    "refusals": {"type": ["boolean", "array"], "items": {"type": "string", "minLength": 1}, "default": false,
      "description": "Reject texts containing a refusal or AI-boilerplate phrase (case-insensitive); true: the built-in list; a list: these phrases instead"},
    "max_non_printable_fraction": {"type": ["number", "boolean"], "minimum": 0, "maximum": 1, "default": false,
      "description": "Reject when more than this fraction of the characters are control characters (not tab or newline), U+FFFD or invalid UTF-8; true: 0 (none allowed)"},
    "languages": {"type": "array", "items": {"type": "string", "minLength": 1}, "default": [],
      "description": "Allowed languages as ISO 639 codes (CLD2), e.g. [en, de]; \"un\" lets texts of undetermined language pass; empty: no language check"},
    "min_language_confidence": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5,
      "description": "With languages: the share of the text CLD2 attributes to the detected language must reach this"},
    "scores_column": {"type": "string", "default": "",
      "description": "Column receiving an object with every computed metric (kept and rejected rows); empty: none"}
  }
})json";

// Gopher's thresholds (Rae et al. 2021, table A1).
constexpr double kGopherDuplicateLines = 0.30;
constexpr double kGopherDuplicateLineChars = 0.20;
constexpr std::array<double, 3> kGopherTopNgram = {0.20, 0.18, 0.16};                          // n = 2, 3, 4
constexpr std::array<double, 6> kGopherDuplicateNgram = {0.15, 0.14, 0.13, 0.12, 0.11, 0.10};  // n = 5..10
constexpr double kGopherSymbolRatio = 0.1;
constexpr double kGopherAlphaWords = 0.8;

// A threshold option: false = off, true = `gopher`, a number = that number.
std::optional<double> threshold(const Json& config, const char* key, double gopher) {
    const Json& v = config.at(key);
    if (v.is_boolean()) return v.get<bool>() ? std::optional<double>(gopher) : std::nullopt;
    return v.get<double>();
}

// An n-gram threshold option: per n from `first`, nullopt where the rule is off.
template <size_t N>
std::array<std::optional<double>, N> ngram_thresholds(const Json& config, const char* key, size_t first,
                                                      const std::array<double, N>& gopher) {
    std::array<std::optional<double>, N> out;
    const Json& v = config.at(key);
    for (size_t i = 0; i < N; ++i) {
        if (v.is_boolean()) {
            if (v.get<bool>()) out[i] = gopher[i];
        } else if (v.is_number()) {
            out[i] = v.get<double>();
        } else if (auto it = v.find(std::to_string(first + i)); it != v.end()) {
            out[i] = it->get<double>();
        }
    }
    return out;
}

std::optional<size_t> optional_count(const Json& config, const char* key) {
    const Json& v = config.at(key);
    if (v.is_null()) return std::nullopt;
    return v.get<size_t>();
}

// A fraction as a percentage with as many decimals as it takes to differ from the limit
// it is compared with, so a reason never reads "30% (max 30%)".
std::string pct(double value, double limit) {
    for (int d = 0; d < 4; ++d) {
        std::string a = fmt::format("{:.{}f}", value * 100, d), b = fmt::format("{:.{}f}", limit * 100, d);
        if (a != b) return a + "%";
    }
    return fmt::format("{:.4f}%", value * 100);
}
std::string pct(double value) {
    std::string s = fmt::format("{:.2f}", value * 100);
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s + "%";
}

std::string number(double value, double limit) {
    for (int d = 2; d < 6; ++d) {
        std::string a = fmt::format("{:.{}f}", value, d), b = fmt::format("{:.{}f}", limit, d);
        if (a != b) return a;
    }
    return fmt::format("{:.6f}", value);
}
std::string number(double value) {
    return fmt::format("{}", value);
}

double rounded(double v) {
    return std::round(v * 10000.0) / 10000.0;
}

std::string shorten(const std::string& s, size_t max_bytes = 60) {
    if (s.size() <= max_bytes) return s;
    size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // whole code points
    return s.substr(0, cut) + "...";
}

class QualityFilter : public Block {
  public:
    QualityFilter(const std::string& name, const Json& config)
        : Block(name),
          column_(config.at("column").get<std::string>()),
          min_chars_(config.at("min_chars").get<size_t>()),
          max_chars_(optional_count(config, "max_chars")),
          min_words_(config.at("min_words").get<size_t>()),
          max_words_(optional_count(config, "max_words")),
          dup_lines_(threshold(config, "max_duplicate_line_fraction", kGopherDuplicateLines)),
          dup_line_chars_(threshold(config, "max_duplicate_line_char_fraction", kGopherDuplicateLineChars)),
          top_ngram_(ngram_thresholds(config, "max_top_ngram_char_fraction", 2, kGopherTopNgram)),
          dup_ngram_(ngram_thresholds(config, "max_duplicate_ngram_char_fraction", 5, kGopherDuplicateNgram)),
          symbol_ratio_(threshold(config, "max_symbol_word_ratio", kGopherSymbolRatio)),
          alpha_words_(threshold(config, "min_alpha_word_fraction", kGopherAlphaWords)),
          non_printable_(threshold(config, "max_non_printable_fraction", 0.0)),
          min_language_confidence_(config.at("min_language_confidence").get<double>()),
          scores_column_(config.at("scores_column").get<std::string>()) {
        const Json& refusals = config.at("refusals");
        if (refusals.is_boolean()) {
            if (refusals.get<bool>()) refusals_ = text::builtin_refusal_phrases();
        } else {
            for (size_t i = 0; i < refusals.size(); ++i) {
                std::string phrase = text::fold_for_matching(refusals[i].get<std::string>());
                if (phrase.empty())
                    throw ConfigError(fmt::format("config.refusals[{}]: a phrase must have non-space characters", i));
                refusals_.push_back(std::move(phrase));
            }
        }
        const Json& languages = config.at("languages");
        for (size_t i = 0; i < languages.size(); ++i) {
            const std::string name = languages[i].get<std::string>();
            std::string code = text::canonical_language_code(name);
            if (code.empty())
                throw ConfigError(fmt::format(
                    "config.languages[{}]: unknown language code '{}' (use ISO 639 codes such as en, de, zh)", i,
                    name));
            allowed_.push_back(std::move(code));
        }
        for (size_t i = 0; i < allowed_.size(); ++i) allowed_text_ += (i ? ", " : "") + allowed_[i];
        if (!scores_column_.empty() && scores_column_ == column_)
            throw ConfigError("config.scores_column: must differ from config.column ('" + column_ + "')");
    }

    void process(std::vector<Record>&& rows, Emitter& out) override {
        for (auto& row : rows) {
            auto it = row.find(column_);
            if (it == row.end() || !it->is_string()) {
                out.reject(std::move(row), it == row.end() ? "missing column '" + column_ + "'"
                                                           : fmt::format("column '{}' is not a string (got {})",
                                                                         column_, json_type_name(*it)));
                continue;
            }
            Json scores = Json::object();
            // With a scores column every configured metric is computed; otherwise the
            // checks stop at the first failure.
            std::string reason = check(it->get_ref<const std::string&>(), scores, !scores_column_.empty());
            if (!scores_column_.empty()) row[scores_column_] = std::move(scores);
            if (reason.empty()) {
                out.emit(std::move(row));
            } else {
                out.reject(std::move(row), std::move(reason));
            }
        }
    }

  private:
    // Runs the configured checks in a fixed order (cheap ones first, language last) and
    // returns the first failure's reason, or "" when the text passes.
    std::string check(const std::string& text, Json& scores, bool all) {
        std::string reason;
        auto fail = [&](std::string r) {
            if (reason.empty()) reason = std::move(r);
        };
        auto done = [&] { return !all && !reason.empty(); };

        if (min_chars_ > 0 || max_chars_) {
            const size_t chars = text::count_chars(text);
            scores["chars"] = chars;
            if (chars < min_chars_) fail(fmt::format("chars: {} (min {})", chars, min_chars_));
            if (max_chars_ && chars > *max_chars_) fail(fmt::format("chars: {} (max {})", chars, *max_chars_));
        }
        if (done()) return reason;

        const bool need_words =
            min_words_ > 0 || max_words_ || symbol_ratio_ || alpha_words_ || any(top_ngram_) || any(dup_ngram_);
        std::vector<std::string_view> words;
        if (need_words) {
            words = text::split_words(text);
            scores["words"] = words.size();
            if (words.size() < min_words_) fail(fmt::format("words: {} (min {})", words.size(), min_words_));
            if (max_words_ && words.size() > *max_words_)
                fail(fmt::format("words: {} (max {})", words.size(), *max_words_));
        }
        if (done()) return reason;

        if (non_printable_) {
            const double f = text::non_printable_fraction(text);
            scores["non_printable_fraction"] = rounded(f);
            if (f > *non_printable_)
                fail(fmt::format("non-printable characters: {} of characters (max {})", pct(f, *non_printable_),
                                 pct(*non_printable_)));
        }
        if (done()) return reason;

        if (!refusals_.empty()) {
            const std::string folded = text::fold_for_matching(text);
            const std::string* hit = nullptr;
            for (const auto& phrase : refusals_) {
                if (folded.find(phrase) != std::string::npos) {
                    hit = &phrase;
                    break;
                }
            }
            scores["refusal"] = hit ? Json(*hit) : Json(nullptr);
            if (hit) fail(fmt::format("refusal phrase: \"{}\"", *hit));
        }
        if (done()) return reason;

        if (symbol_ratio_) {
            const text::SymbolStats s = text::symbol_stats(text, words.size());
            scores["hash_word_ratio"] = rounded(s.hash_ratio);
            scores["ellipsis_word_ratio"] = rounded(s.ellipsis_ratio);
            if (s.hash_ratio > *symbol_ratio_)
                fail(fmt::format("symbols: {} '#' per word (max {})", number(s.hash_ratio, *symbol_ratio_),
                                 number(*symbol_ratio_)));
            if (s.ellipsis_ratio > *symbol_ratio_)
                fail(fmt::format("symbols: {} ellipses per word (max {})", number(s.ellipsis_ratio, *symbol_ratio_),
                                 number(*symbol_ratio_)));
        }
        if (done()) return reason;

        if (alpha_words_) {
            const double f = text::alpha_word_fraction(words);
            scores["alpha_word_fraction"] = rounded(f);
            if (f < *alpha_words_) {
                fail(words.empty() ? fmt::format("words with a letter: no words (min {})", pct(*alpha_words_))
                                   : fmt::format("words with a letter: {} of words (min {})", pct(f, *alpha_words_),
                                                 pct(*alpha_words_)));
            }
        }
        if (done()) return reason;

        if (dup_lines_ || dup_line_chars_) {
            const text::DuplicateLineStats s = text::duplicate_lines(text);
            scores["duplicate_line_fraction"] = rounded(s.line_fraction());
            scores["duplicate_line_char_fraction"] = rounded(s.char_fraction());
            if (dup_lines_ && s.line_fraction() > *dup_lines_)
                fail(fmt::format("duplicate lines: {} of lines (max {})", pct(s.line_fraction(), *dup_lines_),
                                 pct(*dup_lines_)));
            if (dup_line_chars_ && s.char_fraction() > *dup_line_chars_)
                fail(fmt::format("duplicate lines: {} of characters (max {})", pct(s.char_fraction(), *dup_line_chars_),
                                 pct(*dup_line_chars_)));
        }
        if (done()) return reason;

        for (size_t i = 0; i < top_ngram_.size() && !done(); ++i) {
            if (!top_ngram_[i]) continue;
            const size_t n = i + 2;
            const text::TopNgram top = text::top_ngram(words, n);
            scores[fmt::format("top_{}gram_char_fraction", n)] = rounded(top.char_fraction);
            if (top.char_fraction > *top_ngram_[i])
                fail(fmt::format("top {}-gram \"{}\" ({} times): {} of characters (max {})", n, shorten(top.ngram),
                                 top.count, pct(top.char_fraction, *top_ngram_[i]), pct(*top_ngram_[i])));
        }
        if (done()) return reason;

        for (size_t i = 0; i < dup_ngram_.size() && !done(); ++i) {
            if (!dup_ngram_[i]) continue;
            const size_t n = i + 5;
            const double f = text::duplicate_ngram_char_fraction(words, n);
            scores[fmt::format("duplicate_{}gram_char_fraction", n)] = rounded(f);
            if (f > *dup_ngram_[i])
                fail(fmt::format("duplicate {}-grams: {} of characters (max {})", n, pct(f, *dup_ngram_[i]),
                                 pct(*dup_ngram_[i])));
        }
        if (done()) return reason;

        if (!allowed_.empty()) {
            const text::LanguageGuess g = text::detect_language(text);
            scores["language"] = g.code;
            scores["language_confidence"] = rounded(g.confidence);
            if (!language_allowed(g.code)) {
                fail(g.code == "un" ? fmt::format("language: undetermined (allowed: {})", allowed_text_)
                                    : fmt::format("language: detected {} (allowed: {})", g.code, allowed_text_));
            } else if (g.code != "un" && g.confidence < min_language_confidence_) {
                fail(fmt::format("language: {} covers {} of the text (min {})", g.code,
                                 pct(g.confidence, min_language_confidence_), pct(min_language_confidence_)));
            }
        }
        return reason;
    }

    // An allowed "zh" admits every Chinese variant CLD2 reports ("zh", "zh-Hant"); an
    // allowed "zh-Hant" admits only that one.
    bool language_allowed(const std::string& code) const {
        const std::string primary = code.substr(0, code.find('-'));
        for (const auto& a : allowed_)
            if (a == code || (a.find('-') == std::string::npos && a == primary)) return true;
        return false;
    }

    template <size_t N>
    static bool any(const std::array<std::optional<double>, N>& a) {
        for (const auto& x : a)
            if (x) return true;
        return false;
    }

    std::string column_;
    size_t min_chars_;
    std::optional<size_t> max_chars_;
    size_t min_words_;
    std::optional<size_t> max_words_;
    std::optional<double> dup_lines_, dup_line_chars_;
    std::array<std::optional<double>, 3> top_ngram_;  // n = 2, 3, 4
    std::array<std::optional<double>, 6> dup_ngram_;  // n = 5..10
    std::optional<double> symbol_ratio_, alpha_words_, non_printable_;
    std::vector<std::string> refusals_;  // folded
    std::vector<std::string> allowed_;   // CLD2 codes
    std::string allowed_text_;
    double min_language_confidence_;
    std::string scores_column_;
};

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(quality_filter,
                          "Reject rows whose text fails heuristic quality rules (Gopher repetition, symbols, "
                          "refusals, language)",
                          kSchema,
                          [](const std::string& name, const Json& config, const BlockEnv&) -> std::unique_ptr<Block> {
                              // The engine fills defaults in; direct callers may not have.
                              static const Json schema = Json::parse(kSchema);
                              return std::make_unique<QualityFilter>(name, detail::apply_defaults(schema, config));
                          })

}  // namespace synthforge
