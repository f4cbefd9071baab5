// JSON: a document that is an array of objects (or one object). The file is read whole;
// a light structural scan finds where each element starts and ends, so every record
// gets its own line number and a broken element is one bad record, not a lost file.

#include "data/readers.h"

#include "synthforge/errors.h"

#include <algorithm>
#include <cstring>

namespace synthforge::detail {

namespace {

bool is_json_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

class JsonReader final : public RecordReader {
  public:
    JsonReader(const std::filesystem::path& path, const ReadOptions& options)
        : file_(read_padded(path)), bad_(path.string(), options), limit_(options.max_record_bytes) {
        open_document();
    }

    bool next(Record& out, SourcePos& pos) override {
        while (!done_) {
            if (!array_) {
                const size_t end = value_end(pos_);
                const bool ok = read_element(pos_, end, out, pos);
                pos_ = end;
                finish();
                if (ok) return true;
                continue;
            }
            if (!step_to_element()) return false;
            const size_t start = pos_;
            pos_ = value_end(start);
            need_comma_ = true;
            if (read_element(start, pos_, out, pos)) return true;
        }
        return false;
    }

    ReaderPosition position() const override { return {pos_, line_at(pos_), records_}; }

    void seek(const ReaderPosition& pos) override {
        records_ = pos.records;
        line_cursor_ = 0;
        line_at_cursor_ = 1;
        done_ = pos.offset >= data().size() || (!array_ && pos.offset > start_);
        if (done_) {
            pos_ = data().size();
            return;
        }
        pos_ = start_;
        if (pos.offset > start_) {
            pos_ = pos.offset;
            line_cursor_ = pos_;
            line_at_cursor_ = pos.line;
        }
        need_comma_ = array_ && previous_token(pos_) != '[';
    }

    uint64_t total_bytes() const override { return file_.length; }

  private:
    std::string_view data() const { return file_.view(); }

    void open_document() {
        if (data().substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
        skip_space();
        if (pos_ >= data().size()) malformed(pos_, "the file is empty: expected a JSON array of objects or an object");
        const char c = data()[pos_];
        if (c != '[' && c != '{') {
            malformed(pos_, std::string("expected a JSON array of objects or an object, found '") + c + "'");
        }
        array_ = c == '[';
        start_ = pos_ + (array_ ? 1 : 0);
        pos_ = start_;
    }

    // Moves pos_ to the start of the next element; false (and done) at the closing ']'.
    bool step_to_element() {
        bool after_comma = false;
        for (;;) {
            skip_space();
            if (pos_ >= data().size()) malformed(pos_, "unexpected end of file: the array is not closed with ']'");
            const char c = data()[pos_];
            if (c == ']') {
                if (after_comma) malformed(pos_, "expected a value after ',', found ']'");
                ++pos_;
                finish();
                return false;
            }
            if (!need_comma_) return true;
            if (c != ',') malformed(pos_, std::string("expected ',' or ']' after an array element, found '") + c + "'");
            ++pos_;
            need_comma_ = false;
            after_comma = true;
        }
    }

    // One past the end of the value starting at `start`. Brackets are only counted, not
    // matched: a mismatch inside an element is left for the element's parse to report.
    size_t value_end(size_t start) const {
        const std::string_view d = data();
        const char first = d[start];
        if (first == '"') return string_end(start);
        if (first != '{' && first != '[') {
            size_t i = start;
            while (i < d.size() && !is_json_space(d[i]) && d[i] != ',' && d[i] != ']' && d[i] != '}') ++i;
            if (i == start) malformed(start, std::string("expected a value, found '") + first + "'");
            return i;
        }
        size_t depth = 0;
        for (size_t i = start; i < d.size(); ++i) {
            const char c = d[i];
            if (c == '"') {
                i = string_end(i) - 1;
            } else if (c == '{' || c == '[') {
                ++depth;
            } else if ((c == '}' || c == ']') && --depth == 0) {
                return i + 1;
            }
        }
        malformed(start, "unexpected end of file: the value that starts here is not closed");
    }

    size_t string_end(size_t quote) const {
        const std::string_view d = data();
        for (size_t i = quote + 1; i < d.size(); ++i) {
            if (d[i] == '\\') {
                ++i;
            } else if (d[i] == '"') {
                return i + 1;
            }
        }
        malformed(quote, "unexpected end of file: the string that starts here is not closed");
    }

    bool read_element(size_t start, size_t end, Record& out, SourcePos& pos) {
        const uint64_t line = line_at(start);
        const std::string_view text = data().substr(start, end - start);
        if (text.size() > limit_) {
            bad_.report(line, too_long_reason(text.size(), limit_), text.substr(0, kRawPrefixBytes));
            return false;
        }
        std::string reason;
        if (!parse_json_object(parser_, text, "element", out, reason)) {
            bad_.report(line, reason, text);
            return false;
        }
        pos.file = bad_.file();
        pos.line = line;
        ++records_;
        return true;
    }

    void finish() {
        skip_space();
        if (pos_ < data().size()) malformed(pos_, "unexpected content after the end of the JSON document");
        done_ = true;
    }

    void skip_space() {
        while (pos_ < data().size() && is_json_space(data()[pos_])) ++pos_;
    }

    char previous_token(size_t offset) const {
        while (offset > start_ && is_json_space(data()[offset - 1])) --offset;
        return offset <= start_ ? '[' : data()[offset - 1];
    }

    // Lines are counted lazily from the last answer: offsets only move forward while reading.
    uint64_t line_at(size_t offset) const {
        if (offset < line_cursor_) {
            line_cursor_ = 0;
            line_at_cursor_ = 1;
        }
        const char* d = data().data();
        line_at_cursor_ += std::count(d + line_cursor_, d + offset, '\n');
        line_cursor_ = offset;
        return line_at_cursor_;
    }

    [[noreturn]] void malformed(size_t offset, const std::string& message) const {
        const char* d = data().data();
        const void* nl = ::memrchr(d, '\n', offset);
        const size_t line_start = nl ? static_cast<size_t>(static_cast<const char*>(nl) - d) + 1 : 0;
        throw InputError(bad_.file() + ":" + std::to_string(line_at(offset)) + ":" +
                         std::to_string(offset - line_start + 1) + ": malformed JSON: " + message);
    }

    PaddedFile file_;
    BadRecordSink bad_;
    size_t limit_;
    simdjson::dom::parser parser_;
    bool array_ = false;
    bool need_comma_ = false;
    bool done_ = false;
    size_t start_ = 0;  // first byte after '[' (array) or the '{' of the single object
    size_t pos_ = 0;
    uint64_t records_ = 0;
    mutable size_t line_cursor_ = 0;
    mutable uint64_t line_at_cursor_ = 1;
};

}  // namespace

std::unique_ptr<RecordReader> make_json_reader(const std::filesystem::path& path, const ReadOptions& options) {
    return std::make_unique<JsonReader>(path, options);
}

}  // namespace synthforge::detail
