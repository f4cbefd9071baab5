// CSV (RFC 4180) with a header row. Every value is a string: guessing types would turn
// zip codes and IDs into numbers and lose their leading zeros.

#include "data/readers.h"

#include "synthforge/errors.h"

#include <unordered_map>

namespace synthforge::detail {

namespace {

// One row being assembled from one or more physical lines (quoted fields may hold newlines).
class RowParser {
  public:
    void start(uint64_t line, size_t limit) {
        line_ = line;
        limit_ = limit;
        bytes_ = 0;
        lines_ = 0;
        count_ = 0;
        state_ = State::field_start;
        problem_.clear();
        raw_.clear();
        discard_ = false;
        field().clear();
    }

    // Feeds one physical line; true when the row ends with it.
    bool feed(const Line& line) {
        const bool first = lines_ == 0;
        ++lines_;
        bytes_ += line.length + (first ? 0 : 1);
        if (!first) keep_raw("\n");
        if (line.too_long) {
            // The line was never buffered, so its quote state is unknown: the row ends with it.
            keep_raw(line.text);
            set_problem(too_long_reason(bytes_, limit_));
            return true;
        }
        if (bytes_ > limit_) discard_ = true;
        keep_raw(line.text);
        return parse(line.text);
    }

    void end_at_eof() {
        if (state_ == State::quoted) set_problem("unterminated quoted field: the file ends inside quotes");
    }

    void finish() {
        if (discard_) set_problem(too_long_reason(bytes_, limit_));
        if (!raw_.empty() && raw_.back() == '\r') raw_.pop_back();
    }

    uint64_t line() const { return line_; }
    size_t count() const { return count_; }
    std::string& value(size_t i) { return fields_[i]; }
    const std::string& problem() const { return problem_; }
    const std::string& raw() const { return raw_; }

  private:
    enum class State { field_start, unquoted, quoted, quote_end };

    std::string& field() {
        if (fields_.size() <= count_) fields_.resize(count_ + 1);
        return fields_[count_];
    }

    void append(std::string_view s) {
        if (!discard_) field().append(s);
    }

    void end_field() {
        ++count_;
        field().clear();
        state_ = State::field_start;
    }

    void set_problem(std::string problem) {
        if (problem_.empty()) problem_ = std::move(problem);
    }

    void keep_raw(std::string_view text) {
        if (!discard_) {
            raw_.append(text);
        } else if (raw_.size() < kRawPrefixBytes) {
            raw_.append(text.substr(0, kRawPrefixBytes - raw_.size()));
        }
    }

    bool parse(std::string_view text) {
        const bool crlf = !text.empty() && text.back() == '\r';
        if (crlf) text.remove_suffix(1);
        size_t i = 0;
        while (i < text.size()) i = step(text, i);
        if (state_ == State::quoted) {
            append(crlf ? "\r\n" : "\n");
            return false;
        }
        end_field();
        return true;
    }

    // Consumes a run of `text` from `i` in the current state; returns where to go on.
    size_t step(std::string_view text, size_t i) {
        switch (state_) {
            case State::field_start:
                if (text[i] == '"') {
                    state_ = State::quoted;
                    return i + 1;
                }
                state_ = State::unquoted;
                [[fallthrough]];
            case State::unquoted:
                return take_until(text, i, ',', State::field_start);
            case State::quoted:
                return take_until(text, i, '"', State::quote_end);
            case State::quote_end:
                return after_quote(text[i], i);
        }
        return text.size();
    }

    size_t take_until(std::string_view text, size_t i, char stop, State then) {
        size_t j = text.find(stop, i);
        if (j == std::string_view::npos) j = text.size();
        append(text.substr(i, j - i));
        if (j == text.size()) return j;
        if (then == State::field_start) {
            end_field();
        } else {
            state_ = then;
        }
        return j + 1;
    }

    size_t after_quote(char c, size_t i) {
        if (c == '"') {
            append("\"");
            state_ = State::quoted;
        } else if (c == ',') {
            end_field();
        } else {
            set_problem("unexpected character after the closing quote of field " + std::to_string(count_ + 1));
            append(std::string_view(&c, 1));
            state_ = State::unquoted;
        }
        return i + 1;
    }

    std::vector<std::string> fields_;  // reused between rows to keep their buffers
    size_t count_ = 0;
    State state_ = State::field_start;
    uint64_t line_ = 0;
    size_t limit_ = 0;
    uint64_t bytes_ = 0;
    uint64_t lines_ = 0;
    bool discard_ = false;  // over the size limit: parse on to find the row's end, keep nothing
    std::string problem_;
    std::string raw_;
};

class CsvReader final : public RecordReader {
  public:
    CsvReader(const std::filesystem::path& path, const ReadOptions& options)
        : lines_(path, options.max_record_bytes), bad_(path.string(), options), limit_(options.max_record_bytes) {
        read_header();
    }

    bool next(Record& out, SourcePos& pos) override {
        while (read_row()) {
            if (const std::string reason = row_problem(); !reason.empty()) {
                bad_.report(row_.line(), reason, row_.raw());
                continue;
            }
            out = Json::object();
            auto& members = out.get_ref<Json::object_t&>();
            members.reserve(header_.size());
            // The header is known to be unique, so the map's per-key duplicate search is skipped.
            for (size_t i = 0; i < header_.size(); ++i) {
                members.Container::emplace_back(header_[i], std::move(row_.value(i)));
            }
            pos.file = bad_.file();
            pos.line = row_.line();
            ++records_;
            return true;
        }
        return false;
    }

    ReaderPosition position() const override { return {lines_.offset(), lines_.line_number(), records_}; }

    void seek(const ReaderPosition& pos) override {
        records_ = pos.records;
        // Positions before the first data row (such as a default ReaderPosition) mean "from the start".
        if (pos.offset < data_start_.offset) {
            lines_.seek(data_start_.offset, data_start_.line);
        } else {
            lines_.seek(pos.offset, pos.line);
        }
    }

    uint64_t total_bytes() const override { return lines_.size(); }

  private:
    bool read_row() {
        Line line;
        do {
            if (!lines_.next(line)) return false;
        } while (!line.too_long && strip_cr(line.text).empty());  // blank lines separate nothing
        row_.start(line.number, limit_);
        while (!row_.feed(line)) {
            if (!lines_.next(line)) {
                row_.end_at_eof();
                break;
            }
        }
        row_.finish();
        return true;
    }

    std::string row_problem() {
        if (!row_.problem().empty()) return row_.problem();
        if (row_.count() != header_.size()) {
            return "row has " + std::to_string(row_.count()) + " fields, header has " + std::to_string(header_.size());
        }
        return utf8_problem(row_.raw());
    }

    void read_header() {
        if (read_row()) {
            const std::string where = bad_.file() + ":" + std::to_string(row_.line()) + ": ";
            if (const std::string reason = row_.problem().empty() ? utf8_problem(row_.raw()) : row_.problem();
                !reason.empty()) {
                throw InputError(where + "malformed header: " + reason);
            }
            std::unordered_map<std::string, size_t> seen;
            for (size_t i = 0; i < row_.count(); ++i) {
                std::string& name = row_.value(i);
                if (name.empty())
                    throw InputError(where + "column " + std::to_string(i + 1) + " of the header is empty");
                auto [it, fresh] = seen.emplace(name, i);
                if (!fresh) {
                    throw InputError(where + "duplicate column name '" + name + "' in the header (columns " +
                                     std::to_string(it->second + 1) + " and " + std::to_string(i + 1) + ")");
                }
                header_.push_back(name);
            }
        }
        data_start_ = {lines_.offset(), lines_.line_number(), 0};
    }

    LineSource lines_;
    BadRecordSink bad_;
    size_t limit_;
    RowParser row_;
    std::vector<std::string> header_;
    ReaderPosition data_start_;
    uint64_t records_ = 0;
};

}  // namespace

std::unique_ptr<RecordReader> make_csv_reader(const std::filesystem::path& path, const ReadOptions& options) {
    return std::make_unique<CsvReader>(path, options);
}

}  // namespace synthforge::detail
