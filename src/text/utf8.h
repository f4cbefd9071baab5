#pragma once
// Private UTF-8 decoding shared by the text functions and the readers.
// Invalid input is decoded as "maximal subparts" (Unicode 15, section 3.9): each
// broken sequence becomes one U+FFFD, so counts and replacements agree everywhere.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace synthforge::text::utf8 {

inline constexpr char32_t kReplacement = 0xFFFD;

struct Decoded {
    char32_t cp = 0;
    size_t len = 1;     // bytes consumed, at least 1
    bool valid = true;  // false: cp is U+FFFD standing for `len` bad bytes
};

// The allowed range of the second byte depends on the lead byte: this is what rules
// out overlong forms, surrogates and code points above U+10FFFF.
inline bool second_byte_ok(unsigned char lead, unsigned char b) {
    switch (lead) {
        case 0xE0:
            return b >= 0xA0 && b <= 0xBF;
        case 0xED:
            return b >= 0x80 && b <= 0x9F;
        case 0xF0:
            return b >= 0x90 && b <= 0xBF;
        case 0xF4:
            return b >= 0x80 && b <= 0x8F;
        default:
            return b >= 0x80 && b <= 0xBF;
    }
}

inline Decoded decode(std::string_view s, size_t i) {
    const auto lead = static_cast<unsigned char>(s[i]);
    if (lead < 0x80) return {lead, 1, true};
    size_t need;
    char32_t cp;
    if (lead >= 0xC2 && lead <= 0xDF) {
        need = 1;
        cp = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        need = 2;
        cp = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        need = 3;
        cp = lead & 0x07;
    } else {
        return {kReplacement, 1, false};
    }
    size_t j = i + 1;
    for (size_t k = 0; k < need; ++k, ++j) {
        if (j >= s.size()) return {kReplacement, j - i, false};
        const auto b = static_cast<unsigned char>(s[j]);
        const bool ok = k == 0 ? second_byte_ok(lead, b) : (b >= 0x80 && b <= 0xBF);
        if (!ok) return {kReplacement, j - i, false};
        cp = (cp << 6) | (b & 0x3F);
    }
    return {cp, need + 1, true};
}

inline void append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Byte offset of the first invalid sequence, or npos when `s` is valid.
inline size_t first_invalid(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        if (static_cast<unsigned char>(s[i]) < 0x80) {
            ++i;
            continue;
        }
        const Decoded d = decode(s, i);
        if (!d.valid) return i;
        i += d.len;
    }
    return std::string_view::npos;
}

}  // namespace synthforge::text::utf8
