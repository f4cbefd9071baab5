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
    std::vector<std::string> csv_columns;  // CSV only: the header; other columns are not written
};

class RecordWriter {
  public:
    virtual ~RecordWriter() = default;  // without commit(), the temporary file is removed
    virtual void write(const Record& record) = 0;
    // Flushes, fsyncs and renames the temporary file onto the target. Throws RunError on failure.
    virtual void commit() = 0;
};

std::unique_ptr<RecordWriter> open_writer(const std::filesystem::path& path, Format format,
                                          const WriteOptions& options = {});

// Serialises one record as a single JSON line without the newline (the canonical form
// used in JSONL output and in the run store).
std::string to_json_line(const Record& record);

// Writes `content` to `path` atomically (temp file + fsync + rename).
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

}  // namespace synthforge
