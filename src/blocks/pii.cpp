// pii: finds personal data and secrets in a row's text (privacy/pii.h) and flags them in a
// column, redacts them in place (placeholders or consistent surrogates), or drops the row
// with a reason counting what was found. Strings nested in lists and objects (chat
// `messages`, for one) are scanned too; a finding names its field by path.
#include "synthforge/privacy/pii.h"
#include "engine/schema_check.h"
#include "synthforge/engine/flow_files.h"
#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"

#include <fmt/format.h>

#include <fstream>
#include <map>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "fields": {"type": "array", "items": {"type": "string", "minLength": 1}, "default": [],
               "description": "Columns scanned; strings inside lists and objects are scanned too; a missing column is skipped. Empty: every column except `column`"},
    "action": {"enum": ["flag", "redact", "drop"], "default": "flag",
               "description": "flag: add the findings in `column`; redact: replace them in the text; drop: reject rows with findings"},
    "column": {"type": "string", "minLength": 1, "default": "_pii",
               "description": "flag: column receiving the findings, a list of {field, type, kind, start, end, text, score} (byte offsets into the field's UTF-8 text); [] when none"},
    "entities": {"type": "array", "default": [],
                 "items": {"enum": ["EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "US_SSN", "IP_ADDRESS", "MAC_ADDRESS",
                                    "URL_CREDENTIALS", "CRYPTO_ADDRESS", "SECRET"]},
                 "description": "Built-in entity types looked for; empty: all of them"},
    "min_score": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5,
                  "description": "Findings scoring below this are ignored"},
    "phone_regions": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z]{2}$"}, "default": ["US"],
                      "description": "Regions (ISO 3166 alpha-2) whose national phone formats are recognised; +E.164 numbers are found for any region"},
    "surrogate": {"type": "boolean", "default": false,
                  "description": "redact: fake values instead of placeholders, the same fake for the same value throughout the run"},
    "placeholder": {"type": "string", "default": "<{type}>",
                    "description": "redact: the replacement text; {type} becomes the entity type"},
    "seed": {"type": ["integer", "null"], "minimum": 0, "default": null,
             "description": "Seed of the surrogates; null: the run's seed"},
    "entropy_threshold": {"type": "number", "minimum": 0, "maximum": 8, "default": 3.5,
                          "description": "Shannon entropy (bits per character) a token of 20+ characters after a key/token/secret/password word needs to count as a secret"},
    "patterns": {"type": "array", "default": [],
                 "description": "Custom entities: {name, regex (RE2; its first group is the span when it has one), score (0.8), context (words that add 0.15)}",
                 "items": {"type": "object", "additionalProperties": false, "required": ["name", "regex"],
                           "properties": {"name": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"},
                                          "regex": {"type": "string", "minLength": 1},
                                          "score": {"type": "number", "minimum": 0, "maximum": 1},
                                          "context": {"type": "array", "items": {"type": "string", "minLength": 1}}}}},
    "deny_lists": {"type": "array", "default": [],
                   "description": "Literal terms found as whole words: {name, file (one term a line, relative to the flow's folder; # starts a comment), case_sensitive (false), score (1.0)}",
                   "items": {"type": "object", "additionalProperties": false, "required": ["name", "file"],
                             "properties": {"name": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"},
                                            "file": {"type": "string", "minLength": 1},
                                            "case_sensitive": {"type": "boolean"},
                                            "score": {"type": "number", "minimum": 0, "maximum": 1}}}}
  }
})json";

enum class Action { flag, redact, drop };

class PiiBlock final : public Block {
  public:
    PiiBlock(const std::string& name, const Json& config, const BlockEnv& env) : Block(name) {
        const std::string action = config.at("action").get<std::string>();
        action_ = action == "redact" ? Action::redact : action == "drop" ? Action::drop : Action::flag;
        column_ = config.at("column").get<std::string>();
        fields_ = config.at("fields").get<std::vector<std::string>>();

        privacy::ScannerOptions so;
        so.entities = config.at("entities").get<std::vector<std::string>>();
        so.phone_regions = config.at("phone_regions").get<std::vector<std::string>>();
        so.min_score = config.at("min_score").get<double>();
        so.entropy_threshold = config.at("entropy_threshold").get<double>();
        const Json& patterns = config.at("patterns");
        for (size_t i = 0; i < patterns.size(); ++i) {
            privacy::CustomPattern p;
            p.name = patterns[i].at("name").get<std::string>();
            p.regex = patterns[i].at("regex").get<std::string>();
            p.score = patterns[i].value("score", 0.8);
            p.context = patterns[i].value("context", std::vector<std::string>{});
            for (auto& w : p.context)
                for (char& c : w) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            so.patterns.push_back(std::move(p));
        }
        const Json& lists = config.at("deny_lists");
        for (size_t i = 0; i < lists.size(); ++i) {
            privacy::DenyList d;
            d.name = lists[i].at("name").get<std::string>();
            d.terms = read_line_list(env, lists[i].at("file").get<std::string>(),
                                     fmt::format("config.deny_lists[{}].file", i));
            d.case_sensitive = lists[i].value("case_sensitive", false);
            d.score = lists[i].value("score", 1.0);
            so.deny_lists.push_back(std::move(d));
        }
        try {
            scanner_ = std::make_unique<privacy::Scanner>(std::move(so));
        } catch (const std::invalid_argument& e) {
            throw ConfigError(std::string("config: ") + e.what());
        }
        // Entity order for reasons: built-ins as documented, then custom names as configured.
        order_ = privacy::builtin_entity_types();
        for (const auto& p : scanner_->options().patterns) order_.push_back(p.name);
        for (const auto& d : scanner_->options().deny_lists) order_.push_back(d.name);

        if (action_ == Action::redact) {
            privacy::RedactOptions ro;
            ro.placeholder = config.at("placeholder").get<std::string>();
            ro.surrogate = config.at("surrogate").get<bool>();
            ro.seed = config.at("seed").is_null() ? env.seed : config.at("seed").get<uint64_t>();
            ro.phone_regions = scanner_->options().phone_regions;
            redactor_ = std::make_unique<privacy::Redactor>(std::move(ro));
        }
    }

    void process(std::vector<Record>&& rows, Emitter& out) override {
        for (auto& row : rows) {
            if (!row.is_object()) {
                out.emit(std::move(row));
                continue;
            }
            Json findings = Json::array();
            std::map<std::string, size_t> counts;
            auto visit_field = [&](const std::string& key, Json& value) { visit(value, key, findings, counts); };
            if (fields_.empty()) {
                for (auto& [key, value] : row.items())
                    if (key != column_) visit_field(key, value);
            } else {
                for (const auto& f : fields_)
                    if (auto it = row.find(f); it != row.end()) visit_field(f, *it);
            }
            switch (action_) {
                case Action::flag:
                    row[column_] = std::move(findings);
                    out.emit(std::move(row));
                    break;
                case Action::redact:
                    out.emit(std::move(row));
                    break;
                case Action::drop:
                    if (counts.empty())
                        out.emit(std::move(row));
                    else
                        out.reject(std::move(row), reason(counts));
                    break;
            }
        }
    }

  private:
    // Scans every string in `value` (recursing into lists and objects); redacts in place
    // under action redact.
    void visit(Json& value, const std::string& path, Json& findings, std::map<std::string, size_t>& counts) {
        if (value.is_string()) {
            const std::string& text = value.get_ref<const std::string&>();
            std::vector<privacy::Finding> found = scanner_->scan(text);
            if (found.empty()) return;
            for (const auto& f : found) {
                ++counts[f.type];
                if (action_ == Action::flag) {
                    Json o = {{"field", path}, {"type", f.type}};
                    if (!f.kind.empty()) o["kind"] = f.kind;
                    o["start"] = f.start;
                    o["end"] = f.end;
                    o["text"] = f.text;
                    o["score"] = f.score;
                    findings.push_back(std::move(o));
                }
            }
            if (action_ == Action::redact) value = redactor_->redact(text, found);
        } else if (value.is_array()) {
            for (size_t i = 0; i < value.size(); ++i) visit(value[i], fmt::format("{}[{}]", path, i), findings, counts);
        } else if (value.is_object()) {
            for (auto& [key, child] : value.items()) visit(child, path + "." + key, findings, counts);
        }
    }

    std::string reason(const std::map<std::string, size_t>& counts) const {
        std::string r = "PII found: ";
        bool first = true;
        for (const auto& type : order_) {
            auto it = counts.find(type);
            if (it == counts.end()) continue;
            r += fmt::format("{}{} x{}", first ? "" : ", ", type, it->second);
            first = false;
        }
        return r;
    }

    Action action_ = Action::flag;
    std::string column_;
    std::vector<std::string> fields_;
    std::vector<std::string> order_;
    std::unique_ptr<privacy::Scanner> scanner_;
    std::unique_ptr<privacy::Redactor> redactor_;
};

std::unique_ptr<Block> make_pii(const std::string& name, const Json& raw, const BlockEnv& env) {
    static const Json schema = Json::parse(kSchema);
    const Json config = detail::apply_defaults(schema, raw);  // the engine does it; direct callers may not
    return std::make_unique<PiiBlock>(name, config, env);
}

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(pii,
                          "Find personal data and secrets (e-mail, phone, cards, IBAN, SSN, IP, keys ...) and flag, "
                          "redact or drop them",
                          kSchema, make_pii)

}  // namespace synthforge
