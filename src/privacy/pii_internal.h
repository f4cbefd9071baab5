#pragma once
// Private parts of the PII layer shared by its files: the libphonenumber wrapper (so only
// phone.cpp sees libphonenumber's headers), Keccak-256 for EIP-55, and the reserved
// documentation values the scanner skips and the surrogates are drawn from.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace synthforge::privacy::detail {

// Phone numbers through libphonenumber's PhoneNumberMatcher with leniency VALID.
class PhoneFinder {
  public:
    // Throws std::invalid_argument for a region libphonenumber does not know.
    explicit PhoneFinder(std::vector<std::string> regions);
    ~PhoneFinder();

    struct Match {
        size_t start = 0;  // byte offsets into the text passed to find()
        size_t end = 0;
        bool international = false;  // written with a leading + (or 00 prefix)
        int country_code = 0;
    };
    // Valid numbers inside text[begin, end) for any of the regions (the matcher also sees
    // a few bytes of context on each side). NANP numbers 555-0100..555-0199, which are
    // reserved for fiction, are not returned.
    void find(std::string_view text, size_t begin, size_t end, std::vector<Match>& out) const;
    // True when the matcher finds a valid number anywhere in `text` (surrogate checks).
    bool contains_valid(std::string_view text) const;
    // The country calling code of a number as written ("+44 20 ..." -> 44), 0 if unparsable.
    int country_code(std::string_view number) const;
    const std::vector<std::string>& regions() const { return regions_; }

  private:
    void match_window(const std::string& window, std::vector<Match>& out) const;
    std::vector<std::string> regions_;
    struct Cache;
    std::unique_ptr<Cache> cache_;
};

// Keccak-256 as Ethereum uses it (the original Keccak padding, not SHA3-256).
void keccak256(const uint8_t* data, size_t size, uint8_t out[32]);

// Values reserved for documentation (RFC 2606/6761 domains, RFC 5737/3849 address
// blocks, the RFC 7042 MAC block): examples, not anyone's data, so never findings.
bool reserved_email_domain(std::string_view domain);  // lowercase domain
bool reserved_ipv4(const uint8_t addr[4]);            // also loopback and unspecified
bool reserved_ipv6(const uint8_t addr[16]);
bool private_ipv4(const uint8_t addr[4]);  // RFC 1918, link-local, CGNAT: scored lower
bool private_ipv6(const uint8_t addr[16]);

// A secret whose body is a placeholder ("EXAMPLE", "REDACTED", a run of x or *), as in
// documentation and in surrogates.
bool placeholder_secret(std::string_view text);

// Inline: the scanner calls these once per byte of every text with digits.
inline bool is_ascii_digit(char c) {
    return static_cast<unsigned char>(c - '0') < 10;
}
inline bool is_ascii_alnum(char c) {
    return is_ascii_digit(c) || static_cast<unsigned char>((c | 0x20) - 'a') < 26;
}
inline bool is_hex(char c) {
    return is_ascii_digit(c) || static_cast<unsigned char>((c | 0x20) - 'a') < 6;
}
inline char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace synthforge::privacy::detail
