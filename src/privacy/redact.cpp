// Redaction: placeholders ("<EMAIL>") or surrogates, fake values derived from the seed and
// the original value alone, so one value gets the same fake everywhere in a run and
// across resumed runs without any shared table. Surrogates keep the original's shape where
// that is easy (separators, lengths, brand digit, country code) and are chosen so that the
// scanner never finds them: reserved documentation values it skips (example.com, 555-01xx,
// TEST-NET addresses, 00:00:5e:00:53:xx), checksums that deliberately fail (cards, IBANs,
// Bitcoin, EIP-55), or a "REDACTED" marker inside secrets.
#include "privacy/pii_internal.h"
#include "synthforge/privacy/pii.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <array>

namespace synthforge::privacy {

using detail::ascii_lower;
using detail::is_ascii_digit;

namespace {

// splitmix64: a stream of well-mixed numbers from one hash.
struct Stream {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    char digit() { return static_cast<char>('0' + next() % 10); }
    char upper() { return static_cast<char>('A' + next() % 26); }
    std::string hex(size_t n, bool upper_case = false) {
        std::string s;
        while (s.size() < n) s += upper_case ? fmt::format("{:016X}", next()) : fmt::format("{:016x}", next());
        return s.substr(0, n);
    }
};

Stream stream_for(const Finding& f, uint64_t seed, uint64_t salt = 0) {
    std::string key = f.type + '\0' + f.text;
    return Stream{XXH3_64bits_withSeed(key.data(), key.size(), seed) ^ (salt * 0x2545F4914F6CDD1DULL)};
}

// Writes `digits` into the digit positions of `format`, keeping everything else.
std::string refill_digits(std::string_view format, std::string_view digits) {
    std::string out(format);
    size_t k = 0;
    for (char& c : out)
        if (is_ascii_digit(c) && k < digits.size()) c = digits[k++];
    return out;
}

std::string digits_of(std::string_view s) {
    std::string d;
    for (char c : s)
        if (is_ascii_digit(c)) d += c;
    return d;
}

int luhn_check_digit(std::string_view payload) {
    int sum = 0;
    bool twice = true;  // the check digit will sit to the right
    for (size_t i = payload.size(); i-- > 0;) {
        int d = payload[i] - '0';
        if (twice) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        sum += d;
        twice = !twice;
    }
    return (10 - sum % 10) % 10;
}

int iban_remainder(const std::string& compact) {
    int rem = 0;
    for (size_t k = 0; k < compact.size(); ++k) {
        const char c = compact[(k + 4) % compact.size()];
        rem = is_ascii_digit(c) ? (rem * 10 + (c - '0')) % 97 : (rem * 100 + (c - 'A' + 10)) % 97;
    }
    return rem;
}

constexpr std::string_view kBase58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
constexpr std::string_view kBech32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

// Secret prefixes kept in surrogates, longest first.
constexpr std::string_view kSecretPrefixes[] = {
    "github_pat_", "sk-svcacct-", "sk-admin-", "sk_live_", "rk_live_", "sk-proj-", "xoxb-", "xoxp-", "xoxa-", "xoxs-",
    "ghp_",        "gho_",        "ghu_",      "ghs_",     "ghr_",     "AKIA",     "ASIA",  "AIza",  "sk-"};

}  // namespace

Redactor::Redactor(RedactOptions options) : options_(std::move(options)) {
    if (options_.surrogate) phones_ = std::make_shared<detail::PhoneFinder>(options_.phone_regions);
}

std::string Redactor::replacement(const Finding& f) const {
    return options_.surrogate ? surrogate(f) : [&] {
        std::string out = options_.placeholder;
        for (size_t at = out.find("{type}"); at != std::string::npos; at = out.find("{type}", at + f.type.size()))
            out.replace(at, 6, f.type);
        return out;
    }();
}

std::string Redactor::redact(std::string_view text, const std::vector<Finding>& findings) const {
    std::string out;
    out.reserve(text.size());
    size_t pos = 0;
    for (const auto& f : findings) {
        if (f.start < pos || f.end > text.size() || f.end < f.start) continue;  // overlapping or foreign: skip
        out.append(text.substr(pos, f.start - pos));
        out += replacement(f);
        pos = f.end;
    }
    out.append(text.substr(pos));
    return out;
}

std::string Redactor::surrogate(const Finding& f) const {
    Stream r = stream_for(f, options_.seed);
    const std::string_view t = f.text;
    const auto placeholder = [&] {
        RedactOptions o = options_;
        o.surrogate = false;
        return Redactor(o).replacement(f);
    };

    if (f.type == kEmail) {
        std::string domain = "example.com";
        const size_t dot = t.rfind('.');
        std::string tld(dot == std::string_view::npos ? "" : t.substr(dot + 1));
        for (char& c : tld) c = ascii_lower(c);
        if (tld == "org" || tld == "net") domain = "example." + tld;
        return "user_" + r.hex(8) + "@" + domain;
    }
    if (f.type == kPhone) {
        const std::string d = digits_of(t);
        const size_t plus = t.find('+');
        const bool nanp = (plus != std::string_view::npos && d.size() == 11 && d[0] == '1') ||
                          (plus == std::string_view::npos && (d.size() == 10 || (d.size() == 11 && d[0] == '1')));
        if (nanp) {
            // Area code [2-9][0-8][0-9], exchange 555, line 0100-0199: reserved for fiction.
            std::string fake = d.size() == 11 ? "1" : "";
            fake += static_cast<char>('2' + r.next() % 8);
            fake += static_cast<char>('0' + r.next() % 9);
            fake += r.digit();
            fake += "55501";
            fake += r.digit();
            fake += r.digit();
            return refill_digits(t, fake);
        }
        // Elsewhere: keep the country code, draw the rest until the result is no valid
        // number in the scanner's regions.
        size_t keep = 0;
        if (plus != std::string_view::npos) {
            const int cc = phones_ ? phones_->country_code(t) : 0;
            keep = cc > 0 ? std::to_string(cc).size() : 1;
        } else if (!d.empty() && d[0] == '0') {
            keep = 1;  // the trunk prefix
        }
        for (uint64_t salt = 0; salt < 32; ++salt) {
            Stream s = stream_for(f, options_.seed, salt);
            std::string fake = d.substr(0, keep);
            while (fake.size() < d.size()) fake += s.digit();
            const std::string candidate = refill_digits(t, fake);
            if (phones_ && !phones_->contains_valid(candidate)) return candidate;
        }
        return placeholder();
    }
    if (f.type == kCreditCard) {
        const std::string d = digits_of(t);
        if (d.size() < 2) return placeholder();
        std::string fake(1, d[0]);  // the scheme's first digit stays
        while (fake.size() + 1 < d.size()) fake += r.digit();
        const int good = luhn_check_digit(fake);
        fake += static_cast<char>('0' + (good + 1 + static_cast<int>(r.next() % 9)) % 10);  // never Luhn-valid
        return refill_digits(t, fake);
    }
    if (f.type == kIban) {
        std::string compact;
        for (char c : t)
            if (c != ' ') compact += c;
        if (compact.size() < 5) return placeholder();
        for (size_t i = 4; i < compact.size(); ++i) compact[i] = is_ascii_digit(compact[i]) ? r.digit() : r.upper();
        compact[2] = compact[3] = '0';
        const int good = 98 - iban_remainder(compact);
        int bad = good;
        while (bad == good) bad = 2 + static_cast<int>(r.next() % 97);  // 02..98, never mod-97 valid
        const std::string check = fmt::format("{:02d}", bad);
        compact[2] = check[0];
        compact[3] = check[1];
        std::string out(t);
        for (size_t i = 0, k = 0; i < out.size(); ++i)
            if (out[i] != ' ') out[i] = compact[k++];
        return out;
    }
    if (f.type == kUsSsn) {
        // Area 9xx is never issued, and groups 01-49 are outside the ITIN ranges too.
        std::string fake = "9";
        fake += r.digit();
        fake += r.digit();
        const int group = 1 + static_cast<int>(r.next() % 49);
        fake += fmt::format("{:02d}", group);
        fake += fmt::format("{:04d}", 1 + static_cast<int>(r.next() % 9999));
        return refill_digits(t, fake);
    }
    if (f.type == kIpAddress) {
        if (f.kind == "ipv6") return fmt::format("2001:db8::{:x}:{:x}", r.next() & 0xffff, r.next() & 0xffff);
        static constexpr std::array<const char*, 3> nets = {"192.0.2", "198.51.100", "203.0.113"};
        return fmt::format("{}.{}", nets[r.next() % 3], 1 + r.next() % 254);
    }
    if (f.type == kMacAddress) {
        bool upper = false;
        for (char c : t) upper |= c >= 'A' && c <= 'F';
        std::string last = r.hex(2, upper);
        std::string base = upper ? "00005E0053" : "00005e0053";
        std::string hex = base + last;
        if (t.size() == 14) return hex.substr(0, 4) + "." + hex.substr(4, 4) + "." + hex.substr(8, 4);
        const char sep = t.size() > 2 ? t[2] : ':';
        std::string out;
        for (size_t i = 0; i < 12; i += 2) {
            if (i) out += sep;
            out += hex.substr(i, 2);
        }
        return out;
    }
    if (f.type == kUrlCredentials) return "user_" + r.hex(6) + ":****";
    if (f.type == kCryptoAddress) {
        if (f.kind == "ethereum") {
            std::string hex = r.hex(40);
            if (hex.find_first_of("abcdef") == std::string::npos) hex[0] = 'a';
            std::string good = validate::eip55(hex);
            // Flip the case of one letter: mixed case that fails EIP-55.
            const size_t letter = good.find_first_of("abcdefABCDEF");
            const char c = good[letter];
            good[letter] = static_cast<char>(c >= 'a' ? c - 'a' + 'A' : c - 'A' + 'a');
            if (good.find_first_of("abcdef") == std::string::npos ||
                good.find_first_of("ABCDEF") == std::string::npos) {
                // All letters now share one case (a single-letter address): add another letter.
                const size_t digit = good.find_first_of("0123456789");
                good[digit] = c >= 'a' ? 'a' : 'A';
            }
            return "0x" + good;
        }
        const bool bech = t.size() > 3 && ascii_lower(t[0]) == 'b' && ascii_lower(t[1]) == 'c' && t[2] == '1';
        for (uint64_t salt = 0; salt < 8; ++salt) {
            Stream s = stream_for(f, options_.seed, salt);
            std::string out(t);
            if (bech) {
                const bool upper = t[0] == 'B';
                for (size_t i = 3; i < out.size(); ++i) {
                    const char c = kBech32[s.next() % kBech32.size()];
                    out[i] = upper && c >= 'a' ? static_cast<char>(c - 'a' + 'A') : c;
                }
                if (!validate::bech32_address(out)) return out;
            } else {
                for (size_t i = 1; i < out.size(); ++i) out[i] = kBase58[s.next() % kBase58.size()];
                if (!validate::base58check(out)) return out;
            }
        }
        return placeholder();
    }
    if (f.type == kSecret) {
        if (f.kind == "private_key") {
            const size_t header = t.find("-----", 5);
            const size_t footer = t.find("-----END ");
            std::string out(t.substr(0, header == std::string_view::npos ? t.size() : header + 5));
            out += "\nREDACTED\n";
            if (footer != std::string_view::npos) out += t.substr(footer);
            return out;
        }
        if (f.kind == "jwt") return "eyJREDACTED" + r.hex(8) + ".eyJREDACTED" + r.hex(8) + ".REDACTED" + r.hex(8);
        std::string prefix;
        for (auto p : kSecretPrefixes)
            if (t.starts_with(p)) {
                prefix = p;
                break;
            }
        const bool upper = f.kind == "aws_access_key_id";
        std::string body = upper ? "REDACTED" + r.hex(24, true) : "REDACTED" + r.hex(24);
        const size_t want = std::max<size_t>(t.size() > prefix.size() ? t.size() - prefix.size() : 0, 16);
        while (body.size() < want) body += r.hex(16, upper);
        return prefix + body.substr(0, want);
    }
    return placeholder();  // custom patterns and deny-lists: no fake to invent
}

}  // namespace synthforge::privacy
