#pragma once
// Writers serialise records as JSONL, JSON (an array, one object per line) or
// CSV (header row; nested values as JSON text). Output is written to a temporary
// file beside the target and renamed over it on commit(), so a reader of the
// target never sees half a file.

#include "synthforge/data/format.h"
#include "synthforge/data/record.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace synthforge {

struct WriteOptions {
    std::vector<std::string> csv_columns;  // CSV only: the header (default: the first record's keys);
                                           // other columns are not written
};

class RecordWriter {
  public:
    virtual ~RecordWriter() = default;  // without commit(), the temporary file is removed
    virtual void write(const Record& record) = 0;
    // Writes a record given as one canonical JSON line (to_json_line, no newline).
    // JSONL and JSON copy the bytes as they are — the fast path for rows read back
    // from the run store; CSV parses the line.
    virtual void write_json_line(std::string_view line) = 0;
    // Flushes, fsyncs and renames the temporary file onto the target. Throws RunError on failure.
    virtual void commit() = 0;
};

// Throws UserError for Format::text (output formats are jsonl, json and csv).
std::unique_ptr<RecordWriter> open_writer(const std::filesystem::path& path, Format format,
                                          const WriteOptions& options = {});

// Serialises one record as a single JSON line without the newline (the canonical form
// used in JSONL output and in the run store).
std::string to_json_line(const Record& record);

// Writes `content` to `path` atomically (temp file + fsync + rename).
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

}  // namespace synthforge
