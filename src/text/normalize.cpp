#include "synthforge/text/normalize.h"

#include "text/utf8.h"

#include <simdjson.h>

namespace synthforge::text {

namespace {

bool is_ascii_punct(char32_t cp) {
    return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
           (cp >= 0x7B && cp <= 0x7E);
}

// The quotes, dashes and ellipsis that editors substitute for ASCII ones; removing them
// too keeps "smart" and plain punctuation from producing different normalised text.
bool is_punct(char32_t cp) {
    if (cp < 0x80) return is_ascii_punct(cp);
    switch (cp) {
        case 0xA1:
        case 0xAB:
        case 0xB7:
        case 0xBB:
        case 0xBF:  // ¡ « · » ¿
        case 0x2026:
        case 0x2039:
        case 0x203A:  // … ‹ ›
        case 0x2212:
        case 0x3001:
        case 0x3002:  // − 、 。
            return true;
        default:
            return (cp >= 0x2010 && cp <= 0x2015) || (cp >= 0x2018 && cp <= 0x201F);  // dashes, quotes
    }
}

char32_t to_lower(char32_t cp) {
    if (cp >= 'A' && cp <= 'Z') return cp + 32;
    // Latin-1 capitals À..Þ map 32 code points down, except the multiplication sign.
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;
    return cp;
}

}  // namespace

// The Unicode White_Space property, so text pasted from word processors and CJK
// sources (no-break and ideographic spaces) splits into words like ASCII text does.
bool is_unicode_space(char32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    switch (cp) {
        case 0x85:
        case 0xA0:
        case 0x1680:
        case 0x2028:
        case 0x2029:
        case 0x202F:
        case 0x205F:
        case 0x3000:
            return true;
        default:
            return cp >= 0x2000 && cp <= 0x200A;
    }
}

std::string normalize(std::string_view text, const NormalizeOptions& options) {
    std::string out;
    out.reserve(text.size());
    bool pending_space = false;
    for (size_t i = 0; i < text.size();) {
        const utf8::Decoded d = utf8::decode(text, i);
        i += d.len;
        char32_t cp = d.cp;
        if (options.collapse_whitespace && is_unicode_space(cp)) {
            pending_space = !out.empty();
            continue;
        }
        if (options.strip_punctuation && is_punct(cp)) continue;
        if (options.lowercase) cp = to_lower(cp);
        if (pending_space) {
            out += ' ';
            pending_space = false;
        }
        utf8::append(out, cp);
    }
    return out;
}

size_t count_words(std::string_view text, size_t limit) {
    size_t words = 0;
    bool in_word = false;
    for (size_t i = 0; i < text.size() && words < limit;) {
        // Most text is ASCII: decode only multi-byte sequences (filters count words per row).
        const auto byte = static_cast<unsigned char>(text[i]);
        bool space;
        if (byte < 0x80) {
            space = byte == ' ' || (byte >= 0x09 && byte <= 0x0D);
            ++i;
        } else {
            const utf8::Decoded d = utf8::decode(text, i);
            i += d.len;
            space = is_unicode_space(d.cp);
        }
        if (!space && !in_word) ++words;
        in_word = !space;
    }
    return words;
}

size_t count_chars(std::string_view text, size_t limit) {
    size_t n = 0;
    for (size_t i = 0; i < text.size() && n < limit; ++n) {
        // ASCII bytes are one code point each; decode only multi-byte sequences.
        i += static_cast<unsigned char>(text[i]) < 0x80 ? 1 : utf8::decode(text, i).len;
    }
    return n;
}

bool is_valid_utf8(std::string_view text) {
    return simdjson::validate_utf8(text.data(), text.size());
}

std::string sanitize_utf8(std::string_view text) {
    if (is_valid_utf8(text)) return std::string(text);
    std::string out;
    out.reserve(text.size() + 16);
    for (size_t i = 0; i < text.size();) {
        const utf8::Decoded d = utf8::decode(text, i);
        if (d.valid) {
            out.append(text.substr(i, d.len));
        } else {
            utf8::append(out, utf8::kReplacement);
        }
        i += d.len;
    }
    return out;
}

}  // namespace synthforge::text
