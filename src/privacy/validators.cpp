// The checks that turn a pattern match into a finding: checksums (Luhn, ISO 7064 mod-97,
// Base58Check's double SHA-256, bech32/bech32m, EIP-55's Keccak-256), registries (card
// IIN ranges, IBAN lengths per country, the SSA's never-issued SSN areas) and parsers
// (inet_pton). Each is a pure function of its argument.
#include "privacy/pii_internal.h"
#include "synthforge/privacy/pii.h"

#include <arpa/inet.h>
#include <openssl/sha.h>

#include <array>
#include <cmath>
#include <cstring>

namespace synthforge::privacy {

namespace detail {

namespace {

// Keccak-f[1600] round constants and the rho rotations / pi lane order, as in the
// Keccak reference (FIPS 202 section 3.2), walked in the order of the pi permutation.
constexpr std::array<uint64_t, 24> kRoundConstants = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL, 0x000000000000808bULL,
    0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL, 0x000000000000008aULL, 0x0000000000000088ULL,
    0x0000000080008009ULL, 0x000000008000000aULL, 0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL,
    0x8000000000008003ULL, 0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL};
constexpr std::array<int, 24> kRho = {1,  3,  6,  10, 15, 21, 28, 36, 45, 55, 2,  14,
                                      27, 41, 56, 8,  25, 43, 62, 18, 39, 61, 20, 44};
constexpr std::array<int, 24> kPi = {10, 7,  11, 17, 18, 3, 5,  16, 8,  21, 24, 4,
                                     15, 23, 19, 13, 12, 2, 20, 14, 22, 9,  6,  1};

uint64_t rotl(uint64_t x, int n) {
    return (x << n) | (x >> (64 - n));
}

void keccak_f(uint64_t st[25]) {
    for (uint64_t rc : kRoundConstants) {
        uint64_t c[5];
        for (int x = 0; x < 5; ++x) c[x] = st[x] ^ st[x + 5] ^ st[x + 10] ^ st[x + 15] ^ st[x + 20];  // theta
        for (int x = 0; x < 5; ++x) {
            const uint64_t d = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
            for (int y = 0; y < 25; y += 5) st[y + x] ^= d;
        }
        uint64_t carry = st[1];  // rho and pi together
        for (int i = 0; i < 24; ++i) {
            const int j = kPi[i];
            const uint64_t next = st[j];
            st[j] = rotl(carry, kRho[i]);
            carry = next;
        }
        for (int y = 0; y < 25; y += 5) {  // chi
            uint64_t row[5];
            for (int x = 0; x < 5; ++x) row[x] = st[y + x];
            for (int x = 0; x < 5; ++x) st[y + x] = row[x] ^ (~row[(x + 1) % 5] & row[(x + 2) % 5]);
        }
        st[0] ^= rc;  // iota
    }
}

}  // namespace

void keccak256(const uint8_t* data, size_t size, uint8_t out[32]) {
    constexpr size_t kRate = 136;  // bytes: 1600 bits minus twice the 256-bit output
    uint64_t st[25] = {};
    auto absorb = [&](const uint8_t* block) {
        for (size_t i = 0; i < kRate / 8; ++i) {
            uint64_t lane = 0;
            for (int b = 7; b >= 0; --b) lane = (lane << 8) | block[i * 8 + b];  // little-endian lanes
            st[i] ^= lane;
        }
        keccak_f(st);
    };
    while (size >= kRate) {
        absorb(data);
        data += kRate;
        size -= kRate;
    }
    uint8_t last[kRate] = {};
    if (size) std::memcpy(last, data, size);
    last[size] ^= 0x01;  // Keccak's pad10*1 with domain bits 01 (SHA-3 would use 0x06)
    last[kRate - 1] ^= 0x80;
    absorb(last);
    for (int i = 0; i < 32; ++i) out[i] = static_cast<uint8_t>(st[i / 8] >> (8 * (i % 8)));
}

bool reserved_email_domain(std::string_view d) {
    auto ends_with_label = [&](std::string_view suffix) {
        return d == suffix ||
               (d.size() > suffix.size() && d.ends_with(suffix) && d[d.size() - suffix.size() - 1] == '.');
    };
    for (std::string_view s : {"example.com", "example.org", "example.net", "example", "test", "invalid", "localhost"})
        if (ends_with_label(s)) return true;
    return false;
}

bool reserved_ipv4(const uint8_t a[4]) {
    if (a[0] == 127 || a[0] == 0) return true;                  // loopback, "this network"
    if (a[0] == 192 && a[1] == 0 && a[2] == 2) return true;     // TEST-NET-1
    if (a[0] == 198 && a[1] == 51 && a[2] == 100) return true;  // TEST-NET-2
    if (a[0] == 203 && a[1] == 0 && a[2] == 113) return true;   // TEST-NET-3
    if (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255) return true;
    return false;
}

bool reserved_ipv6(const uint8_t a[16]) {
    static const uint8_t zero[16] = {};
    if (std::memcmp(a, zero, 15) == 0 && (a[15] == 0 || a[15] == 1)) return true;  // :: and ::1
    return a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8;           // 2001:db8::/32
}

bool private_ipv4(const uint8_t a[4]) {
    return a[0] == 10 || (a[0] == 172 && a[1] >= 16 && a[1] <= 31) || (a[0] == 192 && a[1] == 168) ||
           (a[0] == 169 && a[1] == 254) || (a[0] == 100 && a[1] >= 64 && a[1] <= 127);
}

bool private_ipv6(const uint8_t a[16]) {
    return (a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80);  // ULA fc00::/7, link-local fe80::/10
}

bool placeholder_secret(std::string_view text) {
    std::string lower(text);
    for (char& c : lower) c = ascii_lower(c);
    if (lower.find("example") != std::string::npos || lower.find("redacted") != std::string::npos) return true;
    size_t run = 1;
    for (size_t i = 1; i < lower.size(); ++i) {
        run = lower[i] == lower[i - 1] ? run + 1 : 1;
        if (run >= 6 && (lower[i] == 'x' || lower[i] == '*' || lower[i] == '0' || lower[i] == '.')) return true;
    }
    return false;
}

}  // namespace detail

using detail::ascii_lower;
using detail::is_ascii_alnum;
using detail::is_ascii_digit;
using detail::is_hex;

namespace validate {

bool luhn(std::string_view digits) {
    if (digits.empty()) return false;
    int sum = 0;
    bool twice = false;
    for (size_t i = digits.size(); i-- > 0;) {
        if (!is_ascii_digit(digits[i])) return false;
        int d = digits[i] - '0';
        if (twice) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        sum += d;
        twice = !twice;
    }
    return sum % 10 == 0;
}

std::string card_brand(std::string_view d) {
    const size_t n = d.size();
    if (n < 12 || n > 19) return "";
    for (char c : d)
        if (!is_ascii_digit(c)) return "";
    auto prefix = [&](size_t len) { return std::stoi(std::string(d.substr(0, len))); };
    const int p2 = prefix(2), p3 = prefix(3), p4 = prefix(4), p6 = prefix(6);
    // Ranges from the schemes' published IIN tables (ISO/IEC 7812 issuer numbers). The
    // more specific ranges come first: Discover's 6011/644-649/65 and the Maestro BINs
    // sit inside ranges another scheme would claim.
    if (d[0] == '4') return (n == 13 || n == 16 || n == 19) ? "visa" : "";
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n == 16 ? "mastercard" : "";
    if (p2 == 34 || p2 == 37) return n == 15 ? "amex" : "";
    if (p4 >= 2200 && p4 <= 2204) return n >= 16 ? "mir" : "";
    if (p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65) return n >= 16 ? "discover" : "";
    if (p6 >= 622126 && p6 <= 622925) return n >= 16 ? "discover" : "";  // UnionPay co-branded with Discover
    if (p4 >= 3528 && p4 <= 3589) return n >= 16 ? "jcb" : "";
    if ((p3 >= 300 && p3 <= 305) || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39) return n >= 14 ? "diners" : "";
    if (p2 == 62 || p2 == 81) return n >= 16 ? "unionpay" : "";
    if (p2 == 50 || (p2 >= 56 && p2 <= 58) || p2 == 63 || p2 == 67) return n >= 13 ? "maestro" : "";
    return "";
}

namespace {

// ISO 13616 IBAN lengths by country (SWIFT's IBAN registry).
struct IbanCountry {
    char code[3];
    uint8_t length;
};
constexpr IbanCountry kIbanLengths[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22}, {"BH", 22},
    {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27},
    {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FK", 18}, {"FO", 18}, {"FR", 27},
    {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22},
    {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32},
    {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19},
    {"MN", 20}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24},
    {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24}, {"SC", 31},
    {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23}, {"ST", 25}, {"SV", 28}, {"TL", 23},
    {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
};

}  // namespace

size_t iban_length(std::string_view country) {
    for (const auto& c : kIbanLengths)
        if (country == c.code) return c.length;
    return 0;
}

bool iban(std::string_view text) {
    std::string s;
    for (char c : text) {
        if (c == ' ') continue;
        if (!is_ascii_alnum(c)) return false;
        s += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    }
    if (s.size() < 5 || iban_length(s.substr(0, 2)) != s.size()) return false;
    if (!is_ascii_digit(s[2]) || !is_ascii_digit(s[3])) return false;
    // ISO 7064 MOD 97-10: the country code and check digits move to the end, letters
    // become 10..35, and the whole number must leave 1 modulo 97.
    int rem = 0;
    for (size_t k = 0; k < s.size(); ++k) {
        const char c = s[(k + 4) % s.size()];
        if (is_ascii_digit(c)) {
            rem = (rem * 10 + (c - '0')) % 97;
        } else {
            rem = (rem * 100 + (c - 'A' + 10)) % 97;
        }
    }
    return rem == 1;
}

bool us_ssn(std::string_view d) {
    if (d.size() != 9) return false;
    for (char c : d)
        if (!is_ascii_digit(c)) return false;
    const int area = std::stoi(std::string(d.substr(0, 3)));
    const int group = std::stoi(std::string(d.substr(3, 2)));
    const int serial = std::stoi(std::string(d.substr(5, 4)));
    // Never issued: area 000, 666 and 900-999 (the latter are ITINs and ad numbers),
    // group 00, serial 0000.
    if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0) return false;
    if (d.find_first_not_of(d[0]) == std::string_view::npos) return false;  // 111-11-1111
    // Numbers known from advertising and documentation (the Woolworth wallet card and
    // others the SSA voided), and the sequence everyone uses as a sample.
    for (std::string_view known : {"078051120", "219099999", "457555462", "123456789"})
        if (d == known) return false;
    return true;
}

namespace {

// File extensions that follow an @ in asset names ("logo@2x.png") and are no TLD.
constexpr std::string_view kNotTlds[] = {"png", "jpg",  "jpeg", "gif",  "svg", "webp", "bmp", "ico", "css", "js",
                                         "ts",  "json", "yml",  "yaml", "txt", "html", "htm", "xml", "pdf"};

}  // namespace

bool email(std::string_view a) {
    const size_t at = a.find('@');
    if (at == std::string_view::npos || a.find('@', at + 1) != std::string_view::npos) return false;
    const std::string_view local = a.substr(0, at), domain = a.substr(at + 1);
    if (local.empty() || local.size() > 64 || domain.size() > 253 || a.size() > 254) return false;
    if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) return false;
    for (char c : local)
        if (!is_ascii_alnum(c) && std::string_view("._%+-").find(c) == std::string_view::npos) return false;
    size_t begin = 0;
    std::string_view tld;
    while (true) {
        const size_t dot = domain.find('.', begin);
        const std::string_view label = domain.substr(begin, dot == std::string_view::npos ? dot : dot - begin);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
        for (char c : label)
            if (!is_ascii_alnum(c) && c != '-') return false;
        if (dot == std::string_view::npos) {
            tld = label;
            break;
        }
        begin = dot + 1;
    }
    if (begin == 0 || tld.size() < 2) return false;  // at least one dot; a TLD of 2+ letters
    std::string lower;
    for (char c : tld) {
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
        lower += ascii_lower(c);
    }
    for (auto ext : kNotTlds)
        if (lower == ext) return false;
    return true;
}

bool ipv4(std::string_view text) {
    if (text.size() > 15) return false;
    size_t part = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '.') {
            part = 0;
            continue;
        }
        if (part == 0 && text[i] == '0' && i + 1 < text.size() && is_ascii_digit(text[i + 1]))
            return false;  // leading zero: octal to some parsers, a version or a date to readers
        ++part;
    }
    char buf[16];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = 0;
    unsigned char out[4];
    return inet_pton(AF_INET, buf, out) == 1;
}

bool ipv6(std::string_view text) {
    const size_t zone = text.find('%');
    if (zone != std::string_view::npos) text = text.substr(0, zone);
    if (text.size() < 2 || text.size() > 45) return false;
    char buf[46];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = 0;
    unsigned char out[16];
    return inet_pton(AF_INET6, buf, out) == 1;
}

bool mac(std::string_view t) {
    if (t.size() == 17) {
        const char sep = t[2];
        if (sep != ':' && sep != '-') return false;
        for (size_t i = 0; i < 17; ++i) {
            if (i % 3 == 2) {
                if (t[i] != sep) return false;
            } else if (!is_hex(t[i])) {
                return false;
            }
        }
        return true;
    }
    if (t.size() == 14) {  // Cisco's dotted form
        for (size_t i = 0; i < 14; ++i) {
            if (i == 4 || i == 9) {
                if (t[i] != '.') return false;
            } else if (!is_hex(t[i])) {
                return false;
            }
        }
        return true;
    }
    return false;
}

namespace {

constexpr std::string_view kBase58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
constexpr std::string_view kBech32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

uint32_t bech32_polymod(const std::vector<uint8_t>& values) {
    constexpr uint32_t kGen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
    uint32_t chk = 1;
    for (uint8_t v : values) {
        const uint32_t top = chk >> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ v;
        for (int i = 0; i < 5; ++i)
            if ((top >> i) & 1) chk ^= kGen[i];
    }
    return chk;
}

}  // namespace

bool base58check(std::string_view a) {
    if (a.size() < 26 || a.size() > 35) return false;
    // Base 58 to base 256, big-endian; each leading '1' stands for a zero byte.
    std::vector<uint8_t> bytes;
    for (char c : a) {
        const size_t digit = kBase58.find(c);
        if (digit == std::string_view::npos) return false;
        uint32_t carry = static_cast<uint32_t>(digit);
        for (auto it = bytes.rbegin(); it != bytes.rend(); ++it) {
            carry += 58u * *it;
            *it = static_cast<uint8_t>(carry & 0xff);
            carry >>= 8;
        }
        while (carry) {
            bytes.insert(bytes.begin(), static_cast<uint8_t>(carry & 0xff));
            carry >>= 8;
        }
    }
    size_t zeros = 0;
    while (zeros < a.size() && a[zeros] == '1') ++zeros;
    bytes.insert(bytes.begin(), zeros, 0);
    if (bytes.size() != 25) return false;                    // version + 20-byte hash + 4-byte checksum
    if (bytes[0] != 0x00 && bytes[0] != 0x05) return false;  // mainnet P2PKH, P2SH
    uint8_t h1[32], h2[32];
    SHA256(bytes.data(), 21, h1);
    SHA256(h1, 32, h2);
    return std::memcmp(h2, bytes.data() + 21, 4) == 0;
}

bool bech32_address(std::string_view a) {
    if (a.size() < 14 || a.size() > 90) return false;
    bool lower = false, upper = false;
    for (char c : a) {
        lower |= c >= 'a' && c <= 'z';
        upper |= c >= 'A' && c <= 'Z';
    }
    if (lower && upper) return false;  // BIP 173: never mixed case
    std::string s(a);
    for (char& c : s) c = ascii_lower(c);
    const size_t sep = s.rfind('1');
    if (sep == std::string::npos || s.substr(0, sep) != "bc" || s.size() - sep - 1 < 7) return false;
    std::vector<uint8_t> values;
    for (char c : s.substr(0, sep)) values.push_back(static_cast<uint8_t>(c >> 5));
    values.push_back(0);
    for (char c : s.substr(0, sep)) values.push_back(static_cast<uint8_t>(c & 31));
    std::vector<uint8_t> data;
    for (size_t i = sep + 1; i < s.size(); ++i) {
        const size_t v = kBech32.find(s[i]);
        if (v == std::string_view::npos) return false;
        data.push_back(static_cast<uint8_t>(v));
    }
    values.insert(values.end(), data.begin(), data.end());
    const uint32_t residue = bech32_polymod(values);
    const int version = data[0];
    if (version > 16) return false;
    // BIP 350: witness v0 keeps bech32's constant 1, v1+ use bech32m's.
    if (residue != (version == 0 ? 1u : 0x2bc830a3u)) return false;
    // The witness program: the 5-bit groups between the version and the 6-symbol
    // checksum, regrouped as bytes; leftover bits must be zero padding.
    uint32_t acc = 0;
    int bits = 0;
    size_t program = 0;
    for (size_t i = 1; i + 6 < data.size(); ++i) {
        acc = (acc << 5) | data[i];
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            ++program;
        }
    }
    if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0) return false;
    if (version == 0) return program == 20 || program == 32;
    return program >= 2 && program <= 40;
}

std::string eip55(std::string_view hex40) {
    std::string lower(hex40);
    for (char& c : lower) c = ascii_lower(c);
    uint8_t hash[32];
    detail::keccak256(reinterpret_cast<const uint8_t*>(lower.data()), lower.size(), hash);
    // A letter is upper case where the matching nibble of the hash of the lowercase hex is >= 8.
    for (size_t i = 0; i < lower.size(); ++i) {
        const int nibble = (i % 2 == 0) ? hash[i / 2] >> 4 : hash[i / 2] & 0xf;
        if (lower[i] >= 'a' && lower[i] <= 'f' && nibble >= 8) lower[i] = static_cast<char>(lower[i] - 'a' + 'A');
    }
    return lower;
}

bool ethereum(std::string_view a) {
    if (a.size() != 42 || a[0] != '0' || (a[1] != 'x' && a[1] != 'X')) return false;
    const std::string_view hex = a.substr(2);
    bool lower = false, upper = false;
    for (char c : hex) {
        if (!is_hex(c)) return false;
        lower |= c >= 'a' && c <= 'f';
        upper |= c >= 'A' && c <= 'F';
    }
    if (lower && upper) return eip55(hex) == hex;
    return true;  // single-case addresses carry no checksum
}

double shannon_entropy(std::string_view text) {
    if (text.empty()) return 0;
    std::array<uint32_t, 256> counts{};
    for (unsigned char c : text) ++counts[c];
    double h = 0;
    const double n = static_cast<double>(text.size());
    for (uint32_t k : counts) {
        if (!k) continue;
        const double p = k / n;
        h -= p * std::log2(p);
    }
    return h;
}

}  // namespace validate
}  // namespace synthforge::privacy
