// libFuzzer target: turning an LLM's answer into columns (src/blocks/llm_output_parser.cpp):
// JSON extraction with and without a schema, numbered/bulleted lists, and a regex with
// named groups. Answers come from a model, so any bytes are possible; a bad answer
// must be a reason, never a crash.
#include "blocks/llm_output_parser.h"

#include <string>

using synthforge::Json;
using namespace synthforge::blocks;

namespace {

const OutputParser& parser(int which) {
    static const Json schema = Json::parse(R"({
      "type": "object", "required": ["question", "answer"],
      "properties": {"question": {"type": "string", "minLength": 1},
                     "answer": {"type": "integer", "minimum": 0, "maximum": 3},
                     "choices": {"type": "array", "items": {"type": "string"}, "minItems": 4, "maxItems": 4}}})");
    static const OutputParser parsers[] = {
        OutputParser(ParseMode::json, nullptr, "", false),
        OutputParser(ParseMode::json, schema, "", false),
        OutputParser(ParseMode::list, nullptr, "", true),
        OutputParser(ParseMode::regex, nullptr, R"((?s)Score:\s*(?P<score>\d+).*?Reason:\s*(?P<reason>.*))", false),
        OutputParser(ParseMode::text, nullptr, "", false),
    };
    return parsers[which % 5];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    // The first byte picks the parser and the finish reason; the rest is the answer.
    const int selector = data[0];
    const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    const std::string finish = (selector & 0x80) ? "length" : "stop";
    ParseResult r = parser(selector & 0x7f).parse(text, finish);
    if (r.error.empty() == r.values.empty()) std::abort();  // values or a reason, never both or neither
    for (const auto& v : r.values) (void)v.dump(-1, ' ', false, Json::error_handler_t::replace);
    if (auto j = extract_json(text)) (void)j->dump(-1, ' ', false, Json::error_handler_t::replace);
    for (const auto& item : parse_list_items(text))
        if (item.empty()) std::abort();
    return 0;
}
