// JSONL, JSON and CSV writers over an AtomicFile.

#include "synthforge/data/reader.h"
#include "synthforge/data/writer.h"

#include "data/atomic_file.h"
#include "synthforge/errors.h"
#include "synthforge/text/normalize.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>

namespace synthforge {

namespace {

// nlohmann's dump() decodes every byte of every string through a UTF-8 state machine,
// which makes it the slowest step of a JSONL run. This serialiser produces the same bytes
// as dump(-1, ' ', false, error_handler_t::replace): valid strings are copied in runs and
// only quotes, backslashes and control characters are escaped; the rare invalid string and
// exotic value types are left to nlohmann itself.

constexpr std::array<bool, 256> kNeedsEscape = [] {
    std::array<bool, 256> table{};
    for (int c = 0; c < 0x20; ++c) table[c] = true;
    table['"'] = table['\\'] = true;
    return table;
}();

void append_escape(std::string& out, unsigned char c) {
    switch (c) {
        case '\b':
            out += "\\b";
            return;
        case '\t':
            out += "\\t";
            return;
        case '\n':
            out += "\\n";
            return;
        case '\f':
            out += "\\f";
            return;
        case '\r':
            out += "\\r";
            return;
        case '"':
            out += "\\\"";
            return;
        case '\\':
            out += "\\\\";
            return;
        default: {
            static constexpr char kHex[] = "0123456789abcdef";
            const char escape[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
            out.append(escape, sizeof escape);
        }
    }
}

bool word_needs_escape(const char* p) {
    uint64_t x;
    std::memcpy(&x, p, 8);
    constexpr uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    auto has_zero = [](uint64_t v) { return (v - ones) & ~v & highs; };
    // A byte < 0x20: (x - 0x20..) borrows into its high bit while the byte's own high bit is clear.
    const uint64_t control = (x - ones * 0x20) & ~x & highs;
    return control | has_zero(x ^ (ones * '"')) | has_zero(x ^ (ones * '\\'));
}

void append_string(std::string& out, const std::string& s) {
    if (!text::is_valid_utf8(s)) {
        out += Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
        return;
    }
    out += '"';
    size_t run = 0;
    size_t i = 0;
    for (;;) {
        // Skip eight bytes at a time while none needs escaping (SWAR: no byte < 0x20,
        // no '"', no '\\'); text fields are long and rarely need any.
        while (i + 8 <= s.size() && !word_needs_escape(s.data() + i)) i += 8;
        if (i >= s.size()) break;
        const auto c = static_cast<unsigned char>(s[i++]);
        if (!kNeedsEscape[c]) continue;
        out.append(s, run, i - 1 - run);
        append_escape(out, c);
        run = i;
    }
    out.append(s, run);
    out += '"';
}

template <typename Number>
void append_number(std::string& out, Number n) {
    char buf[32];
    const auto result = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, result.ptr);
}

void append_float(std::string& out, double x) {
    if (!std::isfinite(x)) {
        out += "null";
        return;
    }
    char buf[64];
    // The same shortest-round-trip formatting dump() uses, so both spell every double alike.
    out.append(buf, nlohmann::detail::to_chars(buf, buf + sizeof buf, x));
}

void append_json(std::string& out, const Json& value);

void append_object(std::string& out, const Json::object_t& members) {
    out += '{';
    bool first = true;
    for (const auto& [key, member] : members) {
        if (!first) out += ',';
        first = false;
        append_string(out, key);
        out += ':';
        append_json(out, member);
    }
    out += '}';
}

void append_array(std::string& out, const Json::array_t& items) {
    out += '[';
    for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ',';
        append_json(out, items[i]);
    }
    out += ']';
}

void append_json(std::string& out, const Json& value) {
    switch (value.type()) {
        case Json::value_t::object:
            append_object(out, value.get_ref<const Json::object_t&>());
            return;
        case Json::value_t::array:
            append_array(out, value.get_ref<const Json::array_t&>());
            return;
        case Json::value_t::string:
            append_string(out, value.get_ref<const std::string&>());
            return;
        case Json::value_t::boolean:
            out += value.get<bool>() ? "true" : "false";
            return;
        case Json::value_t::null:
            out += "null";
            return;
        case Json::value_t::number_integer:
            append_number(out, value.get<int64_t>());
            return;
        case Json::value_t::number_unsigned:
            append_number(out, value.get<uint64_t>());
            return;
        case Json::value_t::number_float:
            append_float(out, value.get<double>());
            return;
        default:
            out += value.dump(-1, ' ', false, Json::error_handler_t::replace);
            return;
    }
}

}  // namespace

std::string to_json_line(const Record& record) {
    // Invalid UTF-8 (say, a model's output cut inside a character) must not make a whole
    // file unreadable, so it is replaced rather than thrown on.
    std::string line;
    append_json(line, record);
    return line;
}

namespace {

class JsonlWriter final : public RecordWriter {
  public:
    explicit JsonlWriter(const std::filesystem::path& path) : file_(path) {}

    void write(const Record& record) override {
        line_.clear();  // reused: its capacity settles at the longest record
        append_json(line_, record);
        line_ += '\n';
        file_.write(line_);
    }

    void write_json_line(std::string_view line) override {
        file_.write(line);
        file_.write("\n");
    }

    void commit() override { file_.commit(); }

  private:
    detail::AtomicFile file_;
    std::string line_;
};

class JsonWriter final : public RecordWriter {
  public:
    explicit JsonWriter(const std::filesystem::path& path) : file_(path) {}

    void write(const Record& record) override {
        line_.assign(count_++ == 0 ? "[\n" : ",\n");
        append_json(line_, record);
        file_.write(line_);
    }

    void write_json_line(std::string_view line) override {
        file_.write(count_++ == 0 ? "[\n" : ",\n");
        file_.write(line);
    }

    void commit() override {
        if (committed_) return;  // the closing bracket must be written once
        file_.write(count_ == 0 ? "[]\n" : "\n]\n");
        file_.commit();
        committed_ = true;
    }

  private:
    detail::AtomicFile file_;
    std::string line_;
    size_t count_ = 0;
    bool committed_ = false;
};

bool needs_quotes(std::string_view field) {
    if (field.empty()) return false;
    if (field.front() == ' ' || field.front() == '\t' || field.back() == ' ' || field.back() == '\t') return true;
    return field.find_first_of(",\"\r\n") != std::string_view::npos;
}

void append_csv_field(std::string& row, std::string_view field) {
    if (!needs_quotes(field)) {
        row.append(field);
        return;
    }
    row += '"';
    for (const char c : field) {
        if (c == '"') row += '"';
        row += c;
    }
    row += '"';
}

std::string csv_text(const Json& value) {
    if (value.is_null()) return {};
    if (value.is_string()) return text::sanitize_utf8(value.get_ref<const std::string&>());
    return to_json_line(value);
}

class CsvWriter final : public RecordWriter {
  public:
    CsvWriter(const std::filesystem::path& path, std::vector<std::string> columns)
        : file_(path), columns_(std::move(columns)) {
        if (!columns_.empty()) write_header();
    }

    void write(const Record& record) override {
        // Without configured columns the first record's keys become the header.
        if (!header_written_) {
            for (const auto& [key, value] : record.items()) columns_.push_back(key);
            write_header();
        }
        row_.clear();
        for (size_t i = 0; i < columns_.size(); ++i) {
            if (i) row_ += ',';
            const auto it = record.find(columns_[i]);
            if (it != record.end()) append_csv_field(row_, csv_text(*it));
        }
        row_ += '\n';
        file_.write(row_);
    }

    void write_json_line(std::string_view line) override { write(parse_json_line(line)); }

    void commit() override { file_.commit(); }

  private:
    void write_header() {
        row_.clear();
        for (size_t i = 0; i < columns_.size(); ++i) {
            if (i) row_ += ',';
            append_csv_field(row_, columns_[i]);
        }
        row_ += '\n';
        file_.write(row_);
        header_written_ = true;
    }

    detail::AtomicFile file_;
    std::vector<std::string> columns_;
    std::string row_;
    bool header_written_ = false;
};

}  // namespace

std::unique_ptr<RecordWriter> open_writer(const std::filesystem::path& path, Format format,
                                          const WriteOptions& options) {
    switch (format) {
        case Format::jsonl:
            return std::make_unique<JsonlWriter>(path);
        case Format::json:
            return std::make_unique<JsonWriter>(path);
        case Format::csv:
            return std::make_unique<CsvWriter>(path, options.csv_columns);
        case Format::text:
            break;
    }
    throw UserError("cannot write '" + path.string() + "' as " + std::string(format_name(format)) +
                    ": output formats are jsonl, json and csv");
}

}  // namespace synthforge
