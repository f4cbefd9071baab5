// open_reader's dispatch and the input plumbing every reader shares.

#include "data/readers.h"

#include "synthforge/errors.h"
#include "synthforge/text/normalize.h"
#include "text/utf8.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace synthforge {
namespace detail {

namespace {

// Large enough that read() calls and the per-block memmove of a partial line are noise
// next to parsing; small files get a buffer of their own size.
constexpr size_t kMaxBlockBytes = 4u << 20;
constexpr size_t kMinBlockBytes = 64u << 10;

std::string errno_text() {
    return std::strerror(errno);
}

}  // namespace

InputFile::InputFile(const std::filesystem::path& path) : name_(path.string()) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw InputError("cannot open " + name_ + ": " + errno_text());
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || S_ISDIR(st.st_mode)) {
        const std::string why = S_ISDIR(st.st_mode) ? std::strerror(EISDIR) : errno_text();
        ::close(fd_);
        throw InputError("cannot open " + name_ + ": " + why);
    }
    size_ = static_cast<uint64_t>(st.st_size);
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
}

InputFile::~InputFile() {
    if (fd_ >= 0) ::close(fd_);
}

size_t InputFile::read(char* dst, size_t n) {
    for (;;) {
        const ssize_t got = ::read(fd_, dst, n);
        if (got >= 0) return static_cast<size_t>(got);
        if (errno != EINTR) throw RunError("cannot read " + name_ + ": " + errno_text());
    }
}

void InputFile::seek(uint64_t offset) {
    if (::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) < 0) {
        throw RunError("cannot seek in " + name_ + ": " + errno_text());
    }
}

PaddedFile read_padded(const std::filesystem::path& path) {
    InputFile file(path);
    PaddedFile out;
    // One spare byte lets the final read() report end of file without growing the buffer;
    // it only grows when the file grew after fstat.
    out.bytes.resize(file.size() + 1 + simdjson::SIMDJSON_PADDING);
    for (;;) {
        const size_t room = out.bytes.size() - simdjson::SIMDJSON_PADDING - out.length;
        if (room == 0) {
            out.bytes.resize(out.bytes.size() * 2);
            continue;
        }
        const size_t got = file.read(out.bytes.data() + out.length, room);
        if (got == 0) break;
        out.length += got;
    }
    std::fill(out.bytes.begin() + static_cast<ptrdiff_t>(out.length), out.bytes.end(), '\0');
    return out;
}

LineSource::LineSource(const std::filesystem::path& path, size_t max_line_bytes)
    : file_(path), max_line_(std::max<size_t>(max_line_bytes, 1)) {
    capacity_ = std::clamp<size_t>(file_.size() + 1, kMinBlockBytes, kMaxBlockBytes);
    buf_.reset(new char[capacity_ + simdjson::SIMDJSON_PADDING]);
    std::memset(buf_.get() + capacity_, 0, simdjson::SIMDJSON_PADDING);
    skip_bom();
}

bool LineSource::fill() {
    const size_t got = file_.read(buf_.get() + end_, capacity_ - end_);
    end_ += got;
    if (got == 0) eof_ = true;
    return got > 0;
}

void LineSource::grow() {
    // Only reached while a line is still no longer than the limit, so the buffer never
    // exceeds max_line_ + 1 bytes.
    const size_t bigger = std::min(capacity_ * 2, max_line_ + 1);
    std::unique_ptr<char[]> next(new char[bigger + simdjson::SIMDJSON_PADDING]);
    std::memcpy(next.get() + begin_, buf_.get() + begin_, end_ - begin_);
    std::memset(next.get() + bigger, 0, simdjson::SIMDJSON_PADDING);
    buf_ = std::move(next);
    capacity_ = bigger;
}

void LineSource::skip_bom() {
    while (end_ < 3 && fill()) {
    }
    if (end_ >= 3 && std::memcmp(buf_.get(), "\xEF\xBB\xBF", 3) == 0) {
        begin_ = 3;
        offset_ = 3;
    }
}

bool LineSource::next(Line& line) {
    size_t searched = 0;  // bytes after begin_ already known to hold no '\n'
    for (;;) {
        const char* start = buf_.get() + begin_;
        const size_t avail = end_ - begin_;
        if (const void* nl = std::memchr(start + searched, '\n', avail - searched)) {
            emit(line, static_cast<size_t>(static_cast<const char*>(nl) - start), true);
            return true;
        }
        searched = avail;
        if (avail > max_line_) {
            skip_long_line(line);
            return true;
        }
        if (eof_) {
            if (avail == 0) return false;
            emit(line, avail, false);
            return true;
        }
        if (begin_ > 0) {
            std::memmove(buf_.get(), start, avail);
            begin_ = 0;
            end_ = avail;
        }
        if (end_ == capacity_) grow();
        fill();
    }
}

void LineSource::emit(Line& line, size_t len, bool has_newline) {
    line.offset = offset_;
    line.number = line_;
    line.length = len;
    line.too_long = len > max_line_;
    line.text = {buf_.get() + begin_, line.too_long ? std::min(len, kRawPrefixBytes) : len};
    begin_ += len + has_newline;
    offset_ += len + has_newline;
    ++line_;
}

void LineSource::skip_long_line(Line& line) {
    long_prefix_.assign(buf_.get() + begin_, std::min(end_ - begin_, kRawPrefixBytes));
    uint64_t length = end_ - begin_;
    bool has_newline = false;
    for (;;) {
        begin_ = end_ = 0;
        if (!fill()) break;
        if (const void* nl = std::memchr(buf_.get(), '\n', end_)) {
            begin_ = static_cast<size_t>(static_cast<const char*>(nl) - buf_.get());
            length += begin_;
            ++begin_;
            has_newline = true;
            break;
        }
        length += end_;
    }
    line.offset = offset_;
    line.number = line_;
    line.length = length;
    line.too_long = true;
    line.text = long_prefix_;
    offset_ += length + has_newline;
    ++line_;
}

void LineSource::seek(uint64_t offset, uint64_t line_number) {
    file_.seek(offset);
    begin_ = end_ = 0;
    eof_ = false;
    offset_ = offset;
    line_ = line_number;
    if (offset == 0) skip_bom();
}

void BadRecordSink::report(uint64_t line, const std::string& reason, std::string_view raw) const {
    SourcePos pos{file_, line};
    if (!skip_) throw InputError(pos.str() + ": " + reason);
    if (callback_) callback_(BadRecord{std::move(pos), reason, text::sanitize_utf8(raw)});
}

std::string too_long_reason(uint64_t bytes, size_t limit) {
    return "record is " + std::to_string(bytes) + " bytes, over the limit of " + std::to_string(limit) +
           " (max_record_bytes)";
}

std::string utf8_problem(std::string_view text) {
    if (text::is_valid_utf8(text)) return {};
    return "invalid UTF-8 at byte " + std::to_string(text::utf8::first_invalid(text) + 1);
}

std::string json_type_with_article(const Record& value) {
    switch (value.type()) {
        case Json::value_t::object:
            return "an object";
        case Json::value_t::array:
            return "an array";
        case Json::value_t::string:
            return "a string";
        case Json::value_t::boolean:
            return "a boolean";
        case Json::value_t::null:
            return "null";
        default:
            return "a number";
    }
}

bool is_blank(std::string_view text) {
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; });
}

std::string_view strip_cr(std::string_view text) {
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    return text;
}

}  // namespace detail

std::unique_ptr<RecordReader> open_reader(const std::filesystem::path& path, const ReadOptions& options) {
    switch (resolve_format(path, options.format)) {
        case Format::jsonl:
            return detail::make_jsonl_reader(path, options);
        case Format::json:
            return detail::make_json_reader(path, options);
        case Format::csv:
            return detail::make_csv_reader(path, options);
        case Format::text:
            return detail::make_text_reader(path, options);
    }
    throw UserError("unsupported format for '" + path.string() + "'");
}

std::vector<Record> read_all(const std::filesystem::path& path, const ReadOptions& options) {
    auto reader = open_reader(path, options);
    std::vector<Record> records;
    Record record;
    SourcePos pos;
    while (reader->next(record, pos)) records.push_back(std::move(record));
    return records;
}

}  // namespace synthforge
