// An example plugin: `banned_words`, a filter that rejects rows whose text
// contains any of a list of words (whole words, case-insensitive).
//
// Build it with the project (build/plugins/banned_words.so), then:
//   synthforge run flow.yaml --plugin build/plugins/banned_words.so ...
// or name it in the flow:  plugins: [path/to/banned_words.so]
#include <synthforge/engine/plugin.h>

#include <cctype>
#include <set>

namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

class BannedWords : public synthforge::Block {
  public:
    BannedWords(std::string name, const synthforge::Json& config)
        : Block(std::move(name)), column_(config.at("column").get<std::string>()) {
        for (const auto& w : config.at("words")) words_.insert(lower(w.get<std::string>()));
    }

    void process(std::vector<synthforge::Record>&& rows, synthforge::Emitter& out) override {
        for (auto& row : rows) {
            if (!row.contains(column_) || !row[column_].is_string()) {
                out.reject(std::move(row), "missing text column '" + column_ + "'");
                continue;
            }
            if (auto hit = find_banned(row[column_].get_ref<const std::string&>()); !hit.empty())
                out.reject(std::move(row), "contains banned word '" + hit + "'");
            else
                out.emit(std::move(row));
        }
    }

  private:
    std::string find_banned(const std::string& text) const {
        std::string word;
        for (size_t i = 0; i <= text.size(); ++i) {
            unsigned char c = i < text.size() ? static_cast<unsigned char>(text[i]) : ' ';
            if (std::isalnum(c) || c >= 0x80) {
                word += static_cast<char>(std::tolower(c));
            } else if (!word.empty()) {
                if (words_.count(word)) return word;
                word.clear();
            }
        }
        return {};
    }

    std::string column_;
    std::set<std::string> words_;
};

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["column", "words"],
  "properties": {
    "column": {"type": "string", "description": "Text column to check"},
    "words": {"type": "array", "items": {"type": "string"}, "description": "Words that reject a row when present"}
  }
})json";

void register_blocks(synthforge::BlockRegistry* registry) {
    registry->add({"banned_words", "Reject rows whose text contains a banned word (example plugin)",
                   synthforge::Json::parse(kSchema),
                   [](const std::string& name, const synthforge::Json& config, const synthforge::BlockEnv&) {
                       return std::make_unique<BannedWords>(name, config);
                   }});
}

}  // namespace

extern "C" SYNTHFORGE_PLUGIN_EXPORT const synthforge_plugin* synthforge_plugin_entry() {
    static const synthforge_plugin plugin{SYNTHFORGE_PLUGIN_API_VERSION, "example-banned-words", &register_blocks};
    return &plugin;
}
