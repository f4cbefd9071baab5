#pragma once
// Readers turn a file into a stream of records, one at a time, in file order.
// Formats: JSONL (one object per line), JSON (an array of objects), CSV
// (RFC 4180 with a header row) and plain text (a record per line, per
// blank-line-separated paragraph, or per file, in column `text`).

#include "synthforge/data/format.h"
#include "synthforge/data/record.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace synthforge {

// How plain text is cut into records. `document`: the whole file is one record
// {"text", "source"}, for blocks such as `chunk` that cut it themselves.
enum class TextUnit { line, paragraph, document };

// A record that could not be read. With on_bad_record=skip it becomes a rejected row.
struct BadRecord {
    SourcePos pos;
    std::string reason;  // what is wrong, naming the field when one is at fault
    std::string raw;     // the offending text (valid UTF-8: invalid bytes are replaced by U+FFFD);
                         // only the first 4 KiB of a record over max_record_bytes
};

struct ReadOptions {
    std::string format;                                   // "" = from the file extension
    TextUnit text_unit = TextUnit::line;                  // plain text: a record per line, paragraph or file
    bool skip_bad_records = false;                        // false: the first bad record throws InputError
    size_t max_record_bytes = 64u << 20;                  // a larger record is a bad record
    std::function<void(const BadRecord&)> on_bad_record;  // called for each skipped record
};

// A resumable position: where the next record starts.
struct ReaderPosition {
    uint64_t offset = 0;   // byte offset in the file
    uint64_t line = 1;     // line number at that offset (1-based)
    uint64_t records = 0;  // records returned before this position (bad records not counted)
};

class RecordReader {
  public:
    virtual ~RecordReader() = default;
    // Reads the next record into `out` and its position into `pos`; false at end of file.
    // A bad record either throws InputError ("file:line: reason") or, when skipping,
    // is passed to on_bad_record and reading goes on.
    virtual bool next(Record& out, SourcePos& pos) = 0;
    virtual ReaderPosition position() const = 0;
    // Continues from a position returned by position() on the same file.
    virtual void seek(const ReaderPosition& pos) = 0;
    virtual uint64_t total_bytes() const = 0;
};

std::unique_ptr<RecordReader> open_reader(const std::filesystem::path& path, const ReadOptions& options);

// Parses one JSON object given as a line of text (such as to_json_line output) with
// simdjson; throws InputError("<what>: reason") when it is not one.
Record parse_json_line(std::string_view line, std::string_view what = "record");

// Reads a whole file (small inputs such as vocabularies and seed pools).
std::vector<Record> read_all(const std::filesystem::path& path, const ReadOptions& options = {});

}  // namespace synthforge
