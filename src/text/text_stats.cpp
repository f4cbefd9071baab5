#include "synthforge/text/text_stats.h"

#include "synthforge/text/normalize.h"
#include "text/utf8.h"

#include <re2/re2.h>
#include <xxhash.h>

// CLD2's public header uses FILE without including <cstdio>.
#include <cld2/public/compact_lang_det.h>
#include <cld2/public/encodings.h>
#include <cstdio>

#include <algorithm>
#include <cstdint>
#include <unordered_map>

namespace synthforge::text {

namespace {

// Unicode White_Space, the same set count_words() splits on.
bool is_white_space(char32_t cp) {
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp < 0x85) return false;
    if (cp >= 0x2000 && cp <= 0x200A) return true;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

// Calls fn(start, end) for every maximal run of non-whitespace bytes of `text`.
template <typename Fn>
void for_each_word(std::string_view text, Fn&& fn) {
    size_t start = std::string_view::npos;
    for (size_t i = 0; i < text.size();) {
        const auto byte = static_cast<unsigned char>(text[i]);
        size_t len = 1;
        bool space;
        if (byte < 0x80) {
            space = byte == ' ' || (byte >= 0x09 && byte <= 0x0D);
        } else {
            const utf8::Decoded d = utf8::decode(text, i);
            len = d.len;
            space = d.valid && is_white_space(d.cp);
        }
        if (space) {
            if (start != std::string_view::npos) fn(start, i);
            start = std::string_view::npos;
        } else if (start == std::string_view::npos) {
            start = i;
        }
        i += len;
    }
    if (start != std::string_view::npos) fn(start, text.size());
}

std::string_view trim(std::string_view s) {
    size_t b = 0, e = s.size();
    while (b < e) {
        const utf8::Decoded d = utf8::decode(s, b);
        if (!d.valid || !is_white_space(d.cp)) break;
        b += d.len;
    }
    // Trailing whitespace: step back over continuation bytes to the start of each code point.
    while (e > b) {
        size_t start = e - 1;
        while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
        const utf8::Decoded d = utf8::decode(s, start);
        if (!d.valid || start + d.len != e || !is_white_space(d.cp)) break;
        e = start;
    }
    return s.substr(b, e - b);
}

double ratio(size_t num, size_t den) {
    return den == 0 ? 0.0 : static_cast<double>(num) / static_cast<double>(den);
}

// The n-grams of a word sequence grouped by equality: group[i] identifies the n-gram
// starting at word i, count[g] is how often group g occurs. Words are interned first,
// so n-grams compare as id ranges, exactly (no hash is trusted for equality).
struct NgramGroups {
    std::vector<uint32_t> group;
    std::vector<uint32_t> count;
};

std::vector<uint32_t> intern_words(const std::vector<std::string_view>& words) {
    std::unordered_map<std::string_view, uint32_t> ids;
    ids.reserve(words.size());
    std::vector<uint32_t> out;
    out.reserve(words.size());
    for (auto w : words) out.push_back(ids.emplace(w, static_cast<uint32_t>(ids.size())).first->second);
    return out;
}

NgramGroups group_ngrams(const std::vector<uint32_t>& ids, size_t n) {
    NgramGroups g;
    if (n == 0 || ids.size() < n) return g;
    const size_t positions = ids.size() - n + 1;
    auto hash = [&](uint32_t start) { return XXH3_64bits(ids.data() + start, n * sizeof(uint32_t)); };
    auto equal = [&](uint32_t a, uint32_t b) {
        return std::equal(ids.begin() + a, ids.begin() + a + n, ids.begin() + b);
    };
    std::unordered_map<uint32_t, uint32_t, decltype(hash), decltype(equal)> first(positions, hash, equal);
    g.group.resize(positions);
    for (uint32_t i = 0; i < positions; ++i) {
        auto [it, inserted] = first.emplace(i, static_cast<uint32_t>(g.count.size()));
        if (inserted) g.count.push_back(0);
        g.group[i] = it->second;
        ++g.count[it->second];
    }
    return g;
}

std::vector<size_t> word_lengths(const std::vector<std::string_view>& words, size_t* total) {
    std::vector<size_t> lengths;
    lengths.reserve(words.size());
    *total = 0;
    for (auto w : words) {
        lengths.push_back(count_chars(w));
        *total += lengths.back();
    }
    return lengths;
}

// Characters of the words covered by the n-grams at the positions where keep(group) holds;
// each word counts once however many covering n-grams it is part of.
template <typename Keep>
size_t covered_chars(const NgramGroups& g, const std::vector<size_t>& lengths, size_t n, Keep&& keep) {
    size_t chars = 0;
    size_t covered_until = 0;  // words [0, covered_until) are already counted
    for (size_t i = 0; i < g.group.size(); ++i) {
        if (!keep(g.group[i])) continue;
        for (size_t w = std::max(i, covered_until); w < i + n; ++w) chars += lengths[w];
        covered_until = std::max(covered_until, i + n);
    }
    return chars;
}

// General category L* for code points outside ASCII. RE2 carries the Unicode tables, so a
// word is tested as a whole, and only when it has no ASCII letter.
bool has_letter(std::string_view word) {
    bool non_ascii = false;
    for (char c : word) {
        const auto b = static_cast<unsigned char>(c);
        if ((b | 0x20) >= 'a' && (b | 0x20) <= 'z') return true;
        non_ascii |= b >= 0x80;
    }
    if (!non_ascii) return false;
    static const RE2 letter("\\pL");
    return RE2::PartialMatch(word, letter);
}

}  // namespace

std::vector<std::string_view> split_words(std::string_view text) {
    std::vector<std::string_view> words;
    for_each_word(text, [&](size_t b, size_t e) { words.push_back(text.substr(b, e - b)); });
    return words;
}

double DuplicateLineStats::line_fraction() const {
    return ratio(duplicate_lines, lines);
}
double DuplicateLineStats::char_fraction() const {
    return ratio(duplicate_chars, chars);
}

DuplicateLineStats duplicate_lines(std::string_view text) {
    std::vector<std::string_view> lines;
    for (size_t pos = 0; pos <= text.size();) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        const std::string_view line = trim(text.substr(pos, nl - pos));
        if (!line.empty()) lines.push_back(line);
        pos = nl + 1;
    }
    std::unordered_map<std::string_view, uint32_t> counts;
    for (auto l : lines) ++counts[l];
    DuplicateLineStats s;
    s.lines = lines.size();
    for (auto l : lines) {
        const size_t chars = count_chars(l);
        s.chars += chars;
        if (counts[l] > 1) {
            ++s.duplicate_lines;
            s.duplicate_chars += chars;
        }
    }
    return s;
}

TopNgram top_ngram(const std::vector<std::string_view>& words, size_t n) {
    TopNgram top;
    size_t total = 0;
    const std::vector<size_t> lengths = word_lengths(words, &total);
    const NgramGroups g = group_ngrams(intern_words(words), n);
    // Characters covered by each group's occurrences, in one pass: an occurrence adds the
    // words its predecessor of the same group did not already cover.
    std::vector<size_t> covered(g.count.size(), 0), covered_until(g.count.size(), 0);
    for (size_t i = 0; i < g.group.size(); ++i) {
        const uint32_t grp = g.group[i];
        for (size_t w = std::max(i, covered_until[grp]); w < i + n; ++w) covered[grp] += lengths[w];
        covered_until[grp] = i + n;
    }
    // Highest count, then most characters; groups are numbered by first occurrence, so
    // keeping the first of equals keeps the earliest.
    size_t best = SIZE_MAX;
    for (size_t grp = 0; grp < g.count.size(); ++grp) {
        if (g.count[grp] < 2) continue;
        if (best == SIZE_MAX || g.count[grp] > g.count[best] ||
            (g.count[grp] == g.count[best] && covered[grp] > covered[best]))
            best = grp;
    }
    if (best == SIZE_MAX) return top;
    top.count = g.count[best];
    top.char_fraction = ratio(covered[best], total);
    const size_t pos = std::find(g.group.begin(), g.group.end(), best) - g.group.begin();
    for (size_t w = pos; w < pos + n; ++w) {
        if (w > pos) top.ngram += ' ';
        top.ngram += words[w];
    }
    return top;
}

double duplicate_ngram_char_fraction(const std::vector<std::string_view>& words, size_t n) {
    size_t total = 0;
    const std::vector<size_t> lengths = word_lengths(words, &total);
    const NgramGroups g = group_ngrams(intern_words(words), n);
    return ratio(covered_chars(g, lengths, n, [&](uint32_t grp) { return g.count[grp] > 1; }), total);
}

SymbolStats symbol_stats(std::string_view text, size_t words) {
    SymbolStats s;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '#') {
            ++s.hashes;
        } else if (c == '.' && text.compare(i, 3, "...") == 0) {
            ++s.ellipses;
            i += 2;
        } else if (c == '\xE2' && text.compare(i, 3, "\xE2\x80\xA6") == 0) {  // U+2026
            ++s.ellipses;
            i += 2;
        }
    }
    s.hash_ratio = ratio(s.hashes, words);
    s.ellipsis_ratio = ratio(s.ellipses, words);
    return s;
}

double alpha_word_fraction(const std::vector<std::string_view>& words) {
    size_t alpha = 0;
    for (auto w : words) alpha += has_letter(w) ? 1 : 0;
    return ratio(alpha, words.size());
}

double non_printable_fraction(std::string_view text) {
    size_t chars = 0, bad = 0;
    for (size_t i = 0; i < text.size(); ++chars) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte < 0x80) {
            bad += (byte < 0x20 && byte != '\t' && byte != '\n' && byte != '\r') || byte == 0x7F ? 1 : 0;
            ++i;
            continue;
        }
        const utf8::Decoded d = utf8::decode(text, i);
        i += d.len;
        const char32_t cp = d.cp;
        bad += !d.valid || (cp >= 0x80 && cp <= 0x9F) || cp == 0xFFFD || cp == 0xFFFE || cp == 0xFFFF ? 1 : 0;
    }
    return ratio(bad, chars);
}

std::string fold_for_matching(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    bool space = false;
    for (size_t i = 0; i < text.size();) {
        const utf8::Decoded d = utf8::decode(text, i);
        i += d.len;
        char32_t cp = d.cp;
        if (d.valid && is_white_space(cp)) {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        if (cp >= 'A' && cp <= 'Z') cp += 'a' - 'A';
        if (cp == 0x2018 || cp == 0x2019) cp = '\'';
        if (cp == 0x201C || cp == 0x201D) cp = '"';
        utf8::append(out, cp);
    }
    return out;
}

const std::vector<std::string>& builtin_refusal_phrases() {
    // Phrases that mark an answer as a refusal, a disclaimer about being a model, or a
    // model talking about its own training instead of answering. Kept specific enough
    // that ordinary prose does not contain them.
    static const std::vector<std::string> phrases = [] {
        std::vector<std::string> p = {
            "as an ai language model",
            "as a language model",
            "as an ai model",
            "as a large language model",
            "as an ai developed by",
            "as an ai, i don't",
            "as an ai, i do not",
            "as an ai, i cannot",
            "as an ai, i can't",
            "i'm just an ai",
            "i am just an ai",
            "i'm only an ai",
            "i am only an ai",
            "i cannot fulfill",
            "i can't fulfill",
            "i am unable to fulfill",
            "i'm unable to fulfill",
            "i cannot comply",
            "i can't comply",
            "i'm sorry, but i can't",
            "i'm sorry, but i cannot",
            "i am sorry, but i cannot",
            "i am sorry, but i can't",
            "sorry, but i can't assist",
            "i cannot assist with",
            "i can't assist with",
            "i'm unable to assist",
            "i am unable to assist",
            "i can't help with that",
            "i cannot help with that",
            "i'm not able to provide",
            "i am not able to provide",
            "i cannot provide assistance",
            "i don't have personal opinions",
            "i do not have personal opinions",
            "i don't have personal feelings",
            "i do not have personal feelings",
            "i don't have the ability to",
            "i do not have the ability to",
            "i don't have access to real-time",
            "i do not have access to real-time",
            "my knowledge cutoff",
            "as of my last knowledge update",
            "as of my last training",
            "against my programming",
            "openai's content policy",
            "openai's use case policy",
            "violates my guidelines",
            "goes against my guidelines",
        };
        for (auto& s : p) s = fold_for_matching(s);
        return p;
    }();
    return phrases;
}

LanguageGuess detect_language(std::string_view text) {
    // CLD2 stops at the first invalid byte; replacing broken sequences keeps the rest.
    std::string repaired;
    if (!is_valid_utf8(text)) {
        repaired = sanitize_utf8(text);
        text = repaired;
    }
    CLD2::Language top3[3];
    int percent3[3];
    double scores3[3];
    int text_bytes = 0;
    int valid_prefix = 0;
    bool reliable = false;
    const CLD2::CLDHints hints = {nullptr, nullptr, CLD2::UNKNOWN_ENCODING, CLD2::UNKNOWN_LANGUAGE};
    const int len = static_cast<int>(std::min<size_t>(text.size(), INT32_MAX));
    const CLD2::Language lang = CLD2::ExtDetectLanguageSummaryCheckUTF8(
        text.data(), len, true, &hints, 0, top3, percent3, scores3, nullptr, &text_bytes, &reliable, &valid_prefix);
    LanguageGuess g;
    g.reliable = reliable;
    if (lang == CLD2::UNKNOWN_LANGUAGE) return g;
    g.code = CLD2::LanguageCode(lang);
    for (int i = 0; i < 3; ++i)
        if (top3[i] == lang) g.confidence = percent3[i] / 100.0;
    return g;
}

std::string canonical_language_code(std::string_view name) {
    std::string s(name);
    if (s == "un") return "un";
    CLD2::Language lang = CLD2::GetLanguageFromName(s.c_str());
    if (lang == CLD2::UNKNOWN_LANGUAGE) {  // CLD2 wants lower-case primary tags: "EN" -> "en"
        for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
        lang = CLD2::GetLanguageFromName(s.c_str());
    }
    if (lang == CLD2::UNKNOWN_LANGUAGE) return "";
    return CLD2::LanguageCode(lang);
}

}  // namespace synthforge::text
