// JSONL: one JSON object per line. This is the hot path of a run, so lines are parsed
// in place in the read buffer by simdjson and copied once into a Record.

#include "data/readers.h"
#include "synthforge/errors.h"

namespace synthforge::detail {

namespace {

void convert(simdjson::dom::element element, Json& out);

void convert_object(simdjson::dom::object object, Json& out) {
    out = Json::object();
    auto& members = out.get_ref<Json::object_t&>();
    members.reserve(object.size());
    for (auto field : object) {
        // A repeated key keeps its first position and its last value, as nlohmann's parser does.
        convert(field.value, members.emplace(std::string(field.key), nullptr).first->second);
    }
}

void convert_array(simdjson::dom::array array, Json& out) {
    out = Json::array();
    auto& items = out.get_ref<Json::array_t&>();
    items.reserve(array.size());
    for (auto item : array) convert(item, items.emplace_back());
}

void convert(simdjson::dom::element element, Json& out) {
    using simdjson::dom::element_type;
    switch (element.type()) {
        case element_type::OBJECT:
            convert_object(element.get_object().value_unsafe(), out);
            break;
        case element_type::ARRAY:
            convert_array(element.get_array().value_unsafe(), out);
            break;
        case element_type::STRING:
            out = element.get_string().value_unsafe();
            break;
        case element_type::INT64:
            out = element.get_int64().value_unsafe();
            break;
        case element_type::UINT64:
            out = element.get_uint64().value_unsafe();
            break;
        case element_type::DOUBLE:
            out = element.get_double().value_unsafe();
            break;
        case element_type::BOOL:
            out = element.get_bool().value_unsafe();
            break;
        case element_type::NULL_VALUE:
            out = nullptr;
            break;
    }
}

std::string dom_type_with_article(simdjson::dom::element_type type) {
    using simdjson::dom::element_type;
    switch (type) {
        case element_type::OBJECT:
            return "an object";
        case element_type::ARRAY:
            return "an array";
        case element_type::STRING:
            return "a string";
        case element_type::BOOL:
            return "a boolean";
        case element_type::NULL_VALUE:
            return "null";
        default:
            return "a number";
    }
}

bool take_object(Json&& value, Record& out, std::string& reason) {
    if (!value.is_object()) {
        reason = "expected a JSON object, got " + json_type_with_article(value);
        return false;
    }
    out = std::move(value);
    return true;
}

}  // namespace

bool parse_json_object(simdjson::dom::parser& parser, std::string_view text, std::string_view what, Record& out,
                       std::string& reason) {
    simdjson::dom::element root;
    const auto error = parser.parse(text.data(), text.size(), false).get(root);
    if (!error) {
        if (!root.is_object()) {
            reason = "expected a JSON object, got " + dom_type_with_article(root.type());
            return false;
        }
        convert_object(root.get_object().value_unsafe(), out);
        return true;
    }
    if (error == simdjson::NUMBER_ERROR) {
        // simdjson rejects integers beyond 64 bits; nlohmann reads them as doubles, which is
        // the best any JSON consumer can do with them, so such rows are kept, not rejected.
        Json value = Json::parse(text.begin(), text.end(), nullptr, false);
        if (!value.is_discarded()) return take_object(std::move(value), out, reason);
    }
    if (error == simdjson::UTF8_ERROR) {
        reason = utf8_problem(text);
    } else {
        reason = std::string(what) + " is not valid JSON: " + simdjson::error_message(error);
    }
    return false;
}

}  // namespace synthforge::detail

namespace synthforge {

Record parse_json_line(std::string_view line, std::string_view what) {
    // simdjson needs SIMDJSON_PADDING readable bytes after the text; one buffer per
    // thread is reused so reading rows back from the run store allocates nothing here.
    thread_local simdjson::dom::parser parser;
    thread_local std::string buffer;
    buffer.assign(line);
    buffer.append(simdjson::SIMDJSON_PADDING, '\0');
    Record out;
    std::string reason;
    if (!detail::parse_json_object(parser, std::string_view(buffer.data(), line.size()), what, out, reason))
        throw InputError(std::string(what) + ": " + reason);
    return out;
}

}  // namespace synthforge

namespace synthforge::detail {
namespace {

class JsonlReader final : public LineRecordReader {
  public:
    using LineRecordReader::LineRecordReader;

    bool next(Record& out, SourcePos& pos) override {
        Line line;
        std::string reason;
        while (lines_.next(line)) {
            if (line.too_long) {
                bad_.report(line.number, too_long_reason(line.length, limit_), line.text);
                continue;
            }
            if (is_blank(line.text)) continue;
            reason.clear();
            if (parse_json_object(parser_, line.text, "line", out, reason)) {
                pos.file = bad_.file();
                pos.line = line.number;
                ++records_;
                return true;
            }
            bad_.report(line.number, reason, strip_cr(line.text));
        }
        return false;
    }

  private:
    simdjson::dom::parser parser_;
};

}  // namespace

std::unique_ptr<RecordReader> make_jsonl_reader(const std::filesystem::path& path, const ReadOptions& options) {
    return std::make_unique<JsonlReader>(path, options);
}

}  // namespace synthforge::detail
