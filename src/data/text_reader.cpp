// Plain text: a record {"text": ...} per non-blank line, or per paragraph (a block of
// lines separated by blank lines, kept with its inner newlines).

#include "data/readers.h"

namespace synthforge::detail {

namespace {

class TextReader final : public LineRecordReader {
  public:
    TextReader(const std::filesystem::path& path, const ReadOptions& options)
        : LineRecordReader(path, options), paragraphs_(options.text_unit == TextUnit::paragraph) {}

    bool next(Record& out, SourcePos& pos) override {
        while (paragraphs_ ? read_paragraph() : read_line()) {
            std::string reason = too_long_ ? too_long_reason(bytes_, limit_) : utf8_problem(text_);
            if (!reason.empty()) {
                bad_.report(first_line_, reason, text_);
                continue;
            }
            out = Json::object();
            out.get_ref<Json::object_t&>().Container::emplace_back("text", text_);
            pos.file = bad_.file();
            pos.line = first_line_;
            ++records_;
            return true;
        }
        return false;
    }

  private:
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
        do {
            add_to_paragraph(line);
        } while (lines_.next(line) && (line.too_long || !is_blank(line.text)));
        return true;
    }

    void add_to_paragraph(const Line& line) {
        const bool first = bytes_ == 0 && text_.empty();
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

    bool paragraphs_;
    std::string text_;  // the record's text, or a prefix of it when too long
    uint64_t first_line_ = 0;
    uint64_t bytes_ = 0;
    bool too_long_ = false;
};

}  // namespace

std::unique_ptr<RecordReader> make_text_reader(const std::filesystem::path& path, const ReadOptions& options) {
    return std::make_unique<TextReader>(path, options);
}

}  // namespace synthforge::detail
