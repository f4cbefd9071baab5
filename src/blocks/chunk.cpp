// `chunk`: cuts a document column into passages small enough for a prompt, one row
// per passage. Markdown is cut at its headings first, so a passage never mixes two
// sections and can say where it came from ("Install > Linux"); each section (or a
// whole plain text) is then cut by size. Size cuts prefer the end of a paragraph,
// then of a sentence, then of a line, and only then any space: a cut never falls
// inside a word, and a chunk's text is an exact slice of the input.

#include "synthforge/engine/registry.h"
#include "synthforge/errors.h"
#include "synthforge/text/normalize.h"
#include "text/utf8.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace synthforge {
namespace {

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "column": {"description": "Text column to cut into chunks", "type": "string", "minLength": 1, "default": "text"},
    "output": {"description": "Column that receives each chunk's text", "type": "string", "minLength": 1, "default": "chunk"},
    "index_column": {
      "description": "Column that receives the chunk's 0-based position in its document; empty = none",
      "type": "string",
      "default": "chunk_index"
    },
    "heading_column": {
      "description": "Column that receives the chunk's heading path, e.g. \"Install > Linux\" (\"\" when none); empty = none",
      "type": "string",
      "default": "heading"
    },
    "format": {
      "description": "markdown: cut at headings first; text: paragraphs only; auto: markdown when the text has a markdown heading",
      "enum": ["auto", "markdown", "text"],
      "default": "auto"
    },
    "max_words": {"description": "Most words in one chunk", "type": "integer", "minimum": 1, "default": 300},
    "overlap_words": {
      "description": "Words a chunk repeats from the end of the previous chunk of the same section (fewer when a sentence starts inside them); less than half of max_words",
      "type": "integer",
      "minimum": 0,
      "default": 30
    },
    "keep_column": {
      "description": "Keep the whole text column in every chunk row; false removes it, so a long document is not copied once per chunk",
      "type": "boolean",
      "default": false
    }
  }
})json";

// What separates a word from the one before it; a higher value is a better place to cut.
enum class Boundary : uint8_t { space, line, sentence, paragraph };

struct Word {
    size_t begin = 0, end = 0;  // bytes of the word in the text
    Boundary before = Boundary::space;
};

struct Section {
    std::string heading;  // "A > B", or "" before the first heading and in plain text
    std::vector<Word> words;
};

struct Span {
    size_t begin = 0, end = 0;  // a line without its '\n' (a trailing '\r' is kept: it is whitespace)
};

bool is_blank(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

std::vector<Span> split_lines(std::string_view text) {
    std::vector<Span> lines;
    size_t start = 0;
    while (start <= text.size()) {
        size_t nl = text.find('\n', start);
        if (nl == std::string_view::npos) nl = text.size();
        lines.push_back({start, nl});
        start = nl + 1;
    }
    return lines;
}

// A word ends a sentence when its last character, past closing quotes and brackets, is a
// full stop, question or exclamation mark. Abbreviations ("e.g.") pass too: the cost is
// only a slightly worse cut, never a lost word.
bool ends_sentence(std::string_view word) {
    static constexpr std::string_view kClosers[] = {"\"", "'", ")", "]", "*", "_", "\u201D", "\u2019", "\u00BB"};
    bool stripped = true;
    while (stripped && !word.empty()) {
        stripped = false;
        for (auto c : kClosers) {
            if (word.size() > c.size() && word.ends_with(c)) {
                word.remove_suffix(c.size());
                stripped = true;
            }
        }
    }
    for (std::string_view end : {".", "?", "!", "\u3002", "\uFF1F", "\uFF01", "\u2026"})
        if (word.ends_with(end)) return true;
    return false;
}

// "1." or "12)": the number of an ordered list item.
bool is_item_number(std::string_view word) {
    if (word.size() < 2 || word.size() > 10 || (word.back() != '.' && word.back() != ')')) return false;
    return std::all_of(word.begin(), word.end() - 1, [](char c) { return c >= '0' && c <= '9'; });
}

// Collects the words of lines, recording for each what separates it from the previous one.
class WordCollector {
  public:
    explicit WordCollector(std::string_view text) : text_(text) {}

    // A blank line: the next word starts a paragraph (unless `in_code`, where blank lines
    // belong to the code and cutting there would split a block in two).
    void blank_line(bool in_code) {
        if (!in_code) pending_ = Boundary::paragraph;
    }

    void add_line(Span line, std::vector<Word>& out, bool in_code) {
        if (pending_ < Boundary::line) pending_ = Boundary::line;
        bool first_in_line = true;
        size_t i = line.begin;
        while (i < line.end) {
            const auto d = text::utf8::decode(text_.substr(0, line.end), i);
            if (text::is_unicode_space(d.cp)) {
                i += d.len;
                continue;
            }
            const size_t begin = i;
            while (i < line.end) {
                const auto w = text::utf8::decode(text_.substr(0, line.end), i);
                if (text::is_unicode_space(w.cp)) break;
                i += w.len;
            }
            Boundary before = pending_;
            if (!out.empty() && !in_code && last_ended_sentence_ && before < Boundary::sentence)
                before = Boundary::sentence;
            if (out.empty()) before = Boundary::paragraph;
            out.push_back({begin, i, before});
            const std::string_view word = text_.substr(begin, i - begin);
            // "1." opening a list item ends no sentence: cutting after it would strand the number.
            last_ended_sentence_ = !(first_in_line && is_item_number(word)) && ends_sentence(word);
            first_in_line = false;
            pending_ = Boundary::space;
        }
    }

    // A new section starts: its first word starts a paragraph whatever came before.
    void reset() {
        pending_ = Boundary::paragraph;
        last_ended_sentence_ = false;
    }

  private:
    std::string_view text_;
    Boundary pending_ = Boundary::paragraph;
    bool last_ended_sentence_ = false;
};

// Markdown structure found in one line.
struct Fence {
    char mark = 0;  // '`' or '~'
    size_t length = 0;
};

size_t indent_of(std::string_view s) {
    size_t i = 0;
    while (i < s.size() && s[i] == ' ') ++i;
    return i;
}

// "```" or "~~~" (3 or more) after at most 3 spaces.
std::optional<Fence> fence_of(std::string_view line) {
    const size_t i = indent_of(line);
    if (i > 3 || i >= line.size() || (line[i] != '`' && line[i] != '~')) return std::nullopt;
    size_t n = 0;
    while (i + n < line.size() && line[i + n] == line[i]) ++n;
    if (n < 3) return std::nullopt;
    return Fence{line[i], n};
}

bool closes(const Fence& open, std::string_view line) {
    auto f = fence_of(line);
    if (!f || f->mark != open.mark || f->length < open.length) return false;
    const size_t i = indent_of(line) + f->length;
    return is_blank(line.substr(i));
}

struct Heading {
    int level = 0;
    std::string text;
};

// "## Title ##" (ATX): 1 to 6 '#' after at most 3 spaces, then a space or the line's end.
std::optional<Heading> atx_heading(std::string_view line) {
    const size_t i = indent_of(line);
    if (i > 3) return std::nullopt;
    size_t n = 0;
    while (i + n < line.size() && line[i + n] == '#') ++n;
    if (n == 0 || n > 6) return std::nullopt;
    std::string_view rest = line.substr(i + n);
    if (!rest.empty() && rest[0] != ' ' && rest[0] != '\t' && rest[0] != '\r') return std::nullopt;
    rest = trim(rest);
    // An optional closing run of '#' goes when a space precedes it (or it is all there is).
    size_t k = rest.find_last_not_of('#');
    if (k == std::string_view::npos)
        rest = {};
    else if (k + 1 < rest.size() && (rest[k] == ' ' || rest[k] == '\t'))
        rest = trim(rest.substr(0, k));
    return Heading{static_cast<int>(n), std::string(rest)};
}

// The line under a setext heading: "===" (level 1) or "---" (level 2), after at most 3 spaces.
int setext_level(std::string_view line) {
    const size_t i = indent_of(line);
    if (i > 3 || i >= line.size() || (line[i] != '=' && line[i] != '-')) return 0;
    size_t n = 0;
    while (i + n < line.size() && line[i + n] == line[i]) ++n;
    if (!is_blank(line.substr(i + n))) return 0;
    return line[i] == '=' ? 1 : 2;
}

// Lines that cannot be the text of a setext heading: under a list item or a quote "---"
// is a thematic break.
bool starts_block(std::string_view line) {
    std::string_view s = trim(line);
    if (s.empty()) return true;
    if (s[0] == '>' || atx_heading(line) || fence_of(line)) return true;
    if ((s[0] == '-' || s[0] == '*' || s[0] == '+') && (s.size() == 1 || s[1] == ' ')) return true;
    size_t d = 0;
    while (d < s.size() && s[d] >= '0' && s[d] <= '9') ++d;
    return d > 0 && d < s.size() && (s[d] == '.' || s[d] == ')');
}

// Index of the line after a YAML front matter block ("---" ... "---" or "..."), or 0.
size_t skip_front_matter(std::string_view text, const std::vector<Span>& lines) {
    auto line = [&](size_t k) { return trim(text.substr(lines[k].begin, lines[k].end - lines[k].begin)); };
    if (lines.empty() || line(0) != "---") return 0;
    for (size_t k = 1; k < lines.size(); ++k)
        if (line(k) == "---" || line(k) == "...") return k + 1;
    return 0;
}

// Sections of a markdown text, cut at its headings; `found_heading` says whether it has any.
std::vector<Section> markdown_sections(std::string_view text, bool& found_heading) {
    const auto lines = split_lines(text);
    auto view = [&](size_t k) { return text.substr(lines[k].begin, lines[k].end - lines[k].begin); };
    std::vector<Section> sections(1);
    std::vector<Heading> path;  // open headings, outermost first
    WordCollector words(text);
    std::optional<Fence> fence;
    found_heading = false;
    bool after_blank = true;  // the previous line was blank, a heading, or there was none

    auto start_section = [&](Heading h) {
        found_heading = true;
        while (!path.empty() && path.back().level >= h.level) path.pop_back();
        path.push_back(std::move(h));
        std::string joined;
        for (const auto& p : path) {
            if (p.text.empty()) continue;  // "#" alone opens a level without a name
            if (!joined.empty()) joined += " > ";
            joined += p.text;
        }
        if (sections.back().words.empty())
            sections.back().heading = std::move(joined);
        else
            sections.push_back({std::move(joined), {}});
        words.reset();
        after_blank = true;
    };

    for (size_t k = skip_front_matter(text, lines); k < lines.size(); ++k) {
        const std::string_view line = view(k);
        if (fence) {
            if (is_blank(line))
                words.blank_line(true);
            else
                words.add_line(lines[k], sections.back().words, true);
            if (closes(*fence, line)) fence.reset();
            after_blank = false;
            continue;
        }
        if (is_blank(line)) {
            words.blank_line(false);
            after_blank = true;
            continue;
        }
        if (auto h = atx_heading(line)) {
            start_section(std::move(*h));
            continue;
        }
        // A one-line paragraph underlined with === or --- is a heading too.
        if (after_blank && k + 1 < lines.size() && !starts_block(line)) {
            if (int level = setext_level(view(k + 1))) {
                start_section({level, std::string(trim(line))});
                ++k;
                continue;
            }
        }
        fence = fence_of(line);
        words.add_line(lines[k], sections.back().words, false);
        after_blank = false;
    }
    return sections;
}

// A plain text is one section; blank lines separate its paragraphs.
Section text_section(std::string_view text) {
    Section s;
    WordCollector words(text);
    for (const Span& line : split_lines(text)) {
        if (is_blank(text.substr(line.begin, line.end - line.begin)))
            words.blank_line(false);
        else
            words.add_line(line, s.words, false);
    }
    return s;
}

struct Range {
    size_t begin = 0, end = 0;  // words [begin, end)
};

// Cuts a section's words into chunks of at most `max_words`. Every chunk but the last
// holds at least half of max_words: within that window the best kind of boundary wins,
// and its latest occurrence, so chunks are as full as their boundaries allow. Because
// the overlap is less than half of max_words, every chunk also adds words of its own.
std::vector<Range> cut_words(const std::vector<Word>& w, size_t max_words, size_t overlap) {
    std::vector<Range> out;
    const size_t n = w.size();
    size_t s = 0;
    while (n - s > max_words) {
        const size_t last = s + max_words;  // the first word of the next chunk is at most this one
        const size_t first = s + (max_words + 1) / 2;
        size_t e = last;
        for (Boundary b : {Boundary::paragraph, Boundary::sentence, Boundary::line}) {
            size_t p = last;
            while (p >= first && w[p].before < b) --p;
            if (p >= first) {
                e = p;
                break;
            }
        }
        out.push_back({s, e});
        // The overlap starts at the first sentence inside it when there is one, so the next
        // chunk does not open mid-sentence; it always moves forward by at least a word.
        size_t next = e;
        if (overlap > 0) {
            next = std::max(e > overlap ? e - overlap : 0, s + 1);
            for (size_t p = next; p < e; ++p) {
                if (w[p].before >= Boundary::sentence) {
                    next = p;
                    break;
                }
            }
        }
        s = next;
    }
    out.push_back({s, n});
    return out;
}

enum class Format { automatic, markdown, text };

class ChunkBlock final : public Block {
  public:
    struct Options {
        std::string column, output, index_column, heading_column;
        Format format = Format::automatic;
        size_t max_words = 300, overlap_words = 30;
        bool keep_column = false;
    };

    ChunkBlock(std::string name, Options o) : Block(std::move(name)), o_(std::move(o)) {}

    void process(std::vector<Record>&& rows, Emitter& out) override {
        for (auto& row : rows) {
            auto it = row.is_object() ? row.find(o_.column) : row.end();
            if (!row.is_object() || it == row.end()) {
                out.reject(std::move(row), "missing column '" + o_.column + "'");
                continue;
            }
            if (!it->is_string()) {
                out.reject(std::move(row),
                           "column '" + o_.column + "' is not a string (got " + json_type_name(*it) + ")");
                continue;
            }
            const std::string& text = it->get_ref<const std::string&>();

            bool has_headings = false;
            std::vector<Section> sections;
            if (o_.format != Format::text) sections = markdown_sections(text, has_headings);
            if (o_.format == Format::text || (o_.format == Format::automatic && !has_headings)) {
                sections.clear();
                sections.push_back(text_section(text));
            }
            std::vector<std::pair<std::string, const std::string*>> chunks;  // text, heading path
            for (const auto& sec : sections) {
                if (sec.words.empty()) continue;  // a heading with nothing under it
                for (Range r : cut_words(sec.words, o_.max_words, o_.overlap_words)) {
                    const size_t b = sec.words[r.begin].begin, e = sec.words[r.end - 1].end;
                    chunks.emplace_back(text.substr(b, e - b), &sec.heading);
                }
            }
            if (chunks.empty()) {
                out.reject(std::move(row), has_headings
                                               ? "column '" + o_.column + "' has headings but no text under them"
                                               : "column '" + o_.column + "' is empty");
                continue;
            }
            // The text leaves the row before it is copied, so a long document is not
            // copied once per chunk.
            if (!o_.keep_column) row.erase(o_.column);
            const size_t n = chunks.size();
            for (size_t i = 0; i < n; ++i) {
                Record r = i + 1 < n ? Record(row) : std::move(row);
                r[o_.output] = std::move(chunks[i].first);
                if (!o_.index_column.empty()) r[o_.index_column] = i;
                if (!o_.heading_column.empty()) r[o_.heading_column] = *chunks[i].second;
                out.emit(std::move(r));
            }
        }
    }

  private:
    Options o_;
};

std::unique_ptr<Block> make_chunk(const std::string& name, const Json& config, const BlockEnv&) {
    ChunkBlock::Options o;
    o.column = config.value("column", "text");
    o.output = config.value("output", "chunk");
    o.index_column = config.value("index_column", "chunk_index");
    o.heading_column = config.value("heading_column", "heading");
    const std::string format = config.value("format", "auto");
    o.format = format == "markdown" ? Format::markdown : format == "text" ? Format::text : Format::automatic;
    const auto max_words = config.value("max_words", int64_t{300});
    const auto overlap = config.value("overlap_words", int64_t{30});
    if (max_words < 1) throw ConfigError("config.max_words: must be at least 1, got " + std::to_string(max_words));
    if (overlap < 0) throw ConfigError("config.overlap_words: must be 0 or more, got " + std::to_string(overlap));
    // More overlap than that would repeat most words in two chunks or more.
    if (overlap * 2 >= max_words)
        throw ConfigError("config.overlap_words: must be less than half of max_words (" + std::to_string(max_words) +
                          "), got " + std::to_string(overlap));
    o.max_words = static_cast<size_t>(max_words);
    o.overlap_words = static_cast<size_t>(overlap);
    o.keep_column = config.value("keep_column", false);

    // Two options naming one column would overwrite each other in every row.
    const std::pair<const char*, const std::string*> named[] = {
        {"output", &o.output}, {"index_column", &o.index_column}, {"heading_column", &o.heading_column}};
    for (size_t i = 0; i < std::size(named); ++i) {
        if (named[i].second->empty()) continue;
        for (size_t j = 0; j < i; ++j)
            if (*named[i].second == *named[j].second)
                throw ConfigError(std::string("config.") + named[i].first + ": '" + *named[i].second +
                                  "' is also config." + named[j].first + "; choose another name");
        if (o.keep_column && *named[i].second == o.column)
            throw ConfigError(std::string("config.") + named[i].first + ": '" + o.column +
                              "' is the text column, which keep_column keeps; choose another name");
    }
    return std::make_unique<ChunkBlock>(name, std::move(o));
}

}  // namespace

SYNTHFORGE_REGISTER_BLOCK(chunk, "Cut a text column into chunks (markdown at headings first), one row per chunk",
                          kSchema, make_chunk)

}  // namespace synthforge
