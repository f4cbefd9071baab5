#pragma once
// Private to the readers: the per-format constructors and the pieces they share
// (buffered line input, bad-record reporting, simdjson-to-Record conversion).

#include "synthforge/data/reader.h"

#include <simdjson.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace synthforge::detail {

std::unique_ptr<RecordReader> make_jsonl_reader(const std::filesystem::path& path, const ReadOptions& options);
std::unique_ptr<RecordReader> make_json_reader(const std::filesystem::path& path, const ReadOptions& options);
std::unique_ptr<RecordReader> make_csv_reader(const std::filesystem::path& path, const ReadOptions& options);
std::unique_ptr<RecordReader> make_text_reader(const std::filesystem::path& path, const ReadOptions& options);

// How much of an over-long record is kept for the reject row: the rest is never buffered.
inline constexpr size_t kRawPrefixBytes = 4096;

// An open input file. Missing or unreadable files are the user's to fix (InputError);
// a read that fails half way is an I/O failure (RunError).
class InputFile {
  public:
    explicit InputFile(const std::filesystem::path& path);
    ~InputFile();
    InputFile(const InputFile&) = delete;
    InputFile& operator=(const InputFile&) = delete;

    // Reads up to `n` bytes at the current position; 0 at end of file.
    size_t read(char* dst, size_t n);
    void seek(uint64_t offset);
    uint64_t size() const { return size_; }
    const std::string& name() const { return name_; }

  private:
    int fd_ = -1;
    uint64_t size_ = 0;
    std::string name_;
};

// Reads the whole file into a buffer followed by simdjson's padding.
struct PaddedFile {
    std::vector<char> bytes;  // length bytes of data, then at least SIMDJSON_PADDING zeros
    size_t length = 0;
    std::string_view view() const { return {bytes.data(), length}; }
};
PaddedFile read_padded(const std::filesystem::path& path);

struct Line {
    std::string_view text;  // without the '\n' but with any '\r'; only a prefix when too_long
    uint64_t offset = 0;    // byte offset of the first byte of the line
    uint64_t number = 0;    // 1-based
    uint64_t length = 0;    // full length without the '\n'
    bool too_long = false;  // longer than the limit: skipped, never held in memory
};

// Splits a file into lines using large block reads. Every returned `text` is followed
// in memory by at least SIMDJSON_PADDING readable bytes, so it can be parsed in place.
// A UTF-8 byte order mark at offset 0 is skipped.
class LineSource {
  public:
    LineSource(const std::filesystem::path& path, size_t max_line_bytes);

    // The next line, valid until the next call; false at end of file.
    bool next(Line& line);
    // Continues at `offset`, which must be the start of a line numbered `line_number`.
    void seek(uint64_t offset, uint64_t line_number);

    uint64_t offset() const { return offset_; }  // where the next line starts
    uint64_t line_number() const { return line_; }
    uint64_t size() const { return file_.size(); }
    const std::string& name() const { return file_.name(); }

  private:
    bool fill();
    void grow();
    void skip_bom();
    void emit(Line& line, size_t len, bool has_newline);
    void skip_long_line(Line& line);

    InputFile file_;
    size_t max_line_;
    std::unique_ptr<char[]> buf_;  // capacity_ bytes of data + SIMDJSON_PADDING
    size_t capacity_;
    size_t begin_ = 0, end_ = 0;
    bool eof_ = false;
    uint64_t offset_ = 0, line_ = 1;
    std::string long_prefix_;
};

// Sends bad records where ReadOptions says: an InputError, or the on_bad_record callback.
class BadRecordSink {
  public:
    BadRecordSink(std::string file, const ReadOptions& options)
        : file_(std::move(file)), skip_(options.skip_bad_records), callback_(options.on_bad_record) {}
    void report(uint64_t line, const std::string& reason, std::string_view raw) const;
    const std::string& file() const { return file_; }

  private:
    std::string file_;
    bool skip_;
    std::function<void(const BadRecord&)> callback_;
};

// The readers that read a file line by line (JSONL, text) share their line source,
// bad-record sink and record count, and so their resumable positions.
class LineRecordReader : public RecordReader {
  public:
    LineRecordReader(const std::filesystem::path& path, const ReadOptions& options)
        : lines_(path, options.max_record_bytes), bad_(path.string(), options), limit_(options.max_record_bytes) {}

    ReaderPosition position() const override { return {lines_.offset(), lines_.line_number(), records_}; }
    void seek(const ReaderPosition& pos) override {
        lines_.seek(pos.offset, pos.line);
        records_ = pos.records;
    }
    uint64_t total_bytes() const override { return lines_.size(); }

  protected:
    LineSource lines_;
    BadRecordSink bad_;
    size_t limit_;
    uint64_t records_ = 0;  // records returned so far
};

std::string too_long_reason(uint64_t bytes, size_t limit);
// "invalid UTF-8 at byte N" (1-based within `text`), or "" when `text` is valid.
std::string utf8_problem(std::string_view text);
// "an array", "a string", ... for messages such as "expected a JSON object, got an array".
std::string json_type_with_article(const Record& value);
bool is_blank(std::string_view text);
std::string_view strip_cr(std::string_view text);

// Parses one JSON object. `text` must be followed by SIMDJSON_PADDING readable bytes.
// On failure returns false with `reason` ("<what> is not valid JSON: ...", "expected a JSON
// object, got ...", "invalid UTF-8 at byte N").
bool parse_json_object(simdjson::dom::parser& parser, std::string_view text, std::string_view what, Record& out,
                       std::string& reason);

}  // namespace synthforge::detail
