// Plain text: a record {"text": ...} per non-blank line, or per paragraph (a block of
// lines separated by blank lines, kept with its inner newlines), or per file
// ({"text": ..., "source": path}) for flows that cut documents themselves.

#include "data/readers.h"

namespace synthforge::detail {

namespace {

class TextReader final : public LineRecordReader {
  public:
    TextReader(const std::filesystem::path& path, const ReadOptions& options)
        : LineRecordReader(path, options), unit_(options.text_unit), source_(path.string()) {}

    bool next(Record& out, SourcePos& pos) override {
        while (read_unit()) {
            std::string reason = too_long_ ? too_long_reason(bytes_, limit_) : utf8_problem(text_);
            if (!reason.empty()) {
                bad_.report(first_line_, reason, text_);
                continue;
            }
            out = Json::object();
            out.get_ref<Json::object_t&>().Container::emplace_back("text", text_);
            if (unit_ == TextUnit::document) out.get_ref<Json::object_t&>().Container::emplace_back("source", source_);
            pos.file = bad_.file();
            pos.line = first_line_;
            ++records_;
            return true;
        }
        return false;
    }

    // A document is either still to read (offset 0) or read (offset at the end): the
    // position must not say "read" before the whole file has been consumed.
    ReaderPosition position() const override {
        if (unit_ != TextUnit::document) return LineRecordReader::position();
        return document_done_ ? ReaderPosition{lines_.size(), lines_.line_number(), records_} : ReaderPosition{};
    }
    void seek(const ReaderPosition& pos) override {
        LineRecordReader::seek(pos);
        document_done_ = unit_ == TextUnit::document && pos.offset > 0;
    }

  private:
    bool read_unit() {
        switch (unit_) {
            case TextUnit::paragraph:
                return read_paragraph();
            case TextUnit::document:
                return read_document();
            default:
                return read_line();
        }
    }

    // Skips blank lines; false at end of file.
    bool next_content_line(Line& line) {
        do {
            if (!lines_.next(line)) return false;
        } while (!line.too_long && is_blank(line.text));
        return true;
    }

    bool read_line() {
        Line line;
        if (!next_content_line(line)) return false;
        first_line_ = line.number;
        too_long_ = line.too_long;
        bytes_ = line.length;
        text_.assign(too_long_ ? line.text : strip_cr(line.text));
        return true;
    }

    bool read_paragraph() {
        Line line;
        if (!next_content_line(line)) return false;
        first_line_ = line.number;
        too_long_ = false;
        bytes_ = 0;
        text_.clear();
        bool first = true;
        do {
            add_line(line, first);
            first = false;
        } while (lines_.next(line) && (line.too_long || !is_blank(line.text)));
        return true;
    }

    // The whole file, blank lines included, with "\r\n" read as "\n" and without the final
    // newline. An empty file is still one record (text ""), so it is reported downstream
    // (`chunk` rejects it with a reason) instead of vanishing.
    bool read_document() {
        if (document_done_) return false;
        document_done_ = true;
        first_line_ = 1;
        too_long_ = false;
        bytes_ = 0;
        text_.clear();
        Line line;
        for (bool first = true; lines_.next(line); first = false) add_line(line, first);
        return true;
    }

    void add_line(const Line& line, bool first) {
        bytes_ += line.length + (first ? 0 : 1);
        // Past the limit the rest of the paragraph is only measured, keeping a prefix for the reject.
        too_long_ = too_long_ || line.too_long || bytes_ > limit_;
        const std::string_view piece = line.too_long ? line.text : strip_cr(line.text);
        if (!too_long_) {
            if (!first) text_ += '\n';
            text_.append(piece);
        } else if (text_.size() < kRawPrefixBytes) {
            if (!first) text_ += '\n';
            text_.append(piece.substr(0, kRawPrefixBytes - std::min(text_.size(), kRawPrefixBytes)));
        }
    }

    TextUnit unit_;
    std::string source_;          // the path as given: the `source` column of documents
    bool document_done_ = false;  // TextUnit::document: the file has been returned (or rejected)
    std::string text_;            // the record's text, or a prefix of it when too long
    uint64_t first_line_ = 0;
    uint64_t bytes_ = 0;
    bool too_long_ = false;
};

}  // namespace

std::unique_ptr<RecordReader> make_text_reader(const std::filesystem::path& path, const ReadOptions& options) {
    return std::make_unique<TextReader>(path, options);
}

}  // namespace synthforge::detail
