#pragma once
// PII detection and redaction for text: e-mail addresses, phone numbers (libphonenumber),
// payment cards, IBANs, US social security numbers, IP and MAC addresses, URLs carrying
// credentials, crypto-currency addresses, secrets (API keys, tokens, private keys), plus
// custom regexes and deny-lists. Every entity that has a checksum or a registry behind it
// is validated, not just matched: a Luhn-failing "card" or a mod-97-failing "IBAN" is not
// a finding. No JSON and no I/O here: the `pii` block and `synthforge scan` build on this.
//
// Offsets are byte offsets into the UTF-8 text (text.substr(start, end - start) is the
// match), so redaction needs no decoding; Python users slice s.encode()[start:end].

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace synthforge::privacy {

// The built-in entity types, in the order counts and docs list them.
inline constexpr const char* kEmail = "EMAIL";
inline constexpr const char* kPhone = "PHONE";
inline constexpr const char* kCreditCard = "CREDIT_CARD";
inline constexpr const char* kIban = "IBAN";
inline constexpr const char* kUsSsn = "US_SSN";
inline constexpr const char* kIpAddress = "IP_ADDRESS";
inline constexpr const char* kMacAddress = "MAC_ADDRESS";
inline constexpr const char* kUrlCredentials = "URL_CREDENTIALS";
inline constexpr const char* kCryptoAddress = "CRYPTO_ADDRESS";
inline constexpr const char* kSecret = "SECRET";
const std::vector<std::string>& builtin_entity_types();

struct Finding {
    std::string type;  // a built-in type above, or a custom pattern's / deny-list's name
    // The finer kind where a type has several, else "": visa, mastercard, amex, ... for
    // cards; ipv4, ipv6; bitcoin, ethereum; aws_access_key_id, github_token, slack_token,
    // openai_key, google_api_key, stripe_key, jwt, private_key, high_entropy for secrets;
    // e164, national for phones.
    std::string kind;
    size_t start = 0;  // byte offsets into the scanned UTF-8 text
    size_t end = 0;
    std::string text;  // the matched text, text == scanned.substr(start, end - start)
    double score = 0;  // confidence in [0, 1], two decimals
};

// A custom entity: an RE2 pattern (its first capturing group, when it has one, is the
// span reported; otherwise the whole match). Context words before the match add 0.15.
struct CustomPattern {
    std::string name;  // the finding type, e.g. EMPLOYEE_ID
    std::string regex;
    double score = 0.8;
    std::vector<std::string> context;  // lowercase words
};

// Literal terms (names, project code words) found as whole words; case-insensitive
// unless case_sensitive.
struct DenyList {
    std::string name;  // the finding type, e.g. CUSTOMER_NAME
    std::vector<std::string> terms;
    bool case_sensitive = false;
    double score = 1.0;
};

struct ScannerOptions {
    std::vector<std::string> entities;  // built-in types detected; empty: all of them
    // Regions (ISO 3166 alpha-2) whose national number formats are recognised; numbers
    // written in +E.164 form are found whatever the region.
    std::vector<std::string> phone_regions = {"US"};
    double min_score = 0.5;          // findings scoring below are dropped
    double entropy_threshold = 3.5;  // bits per character for keyword-anchored secrets
    size_t entropy_min_length = 20;  // and their minimum length
    std::vector<CustomPattern> patterns;
    std::vector<DenyList> deny_lists;
};

// Finds PII in texts. All regular expressions run in one RE2::Set pass first; spans are
// extracted only for the patterns that matched, and libphonenumber only looks at digit
// clusters that could be phone numbers. Thread-safe: scan() may be called concurrently.
class Scanner {
  public:
    // Throws std::invalid_argument for an unknown entity or region, a bad regex or name.
    explicit Scanner(ScannerOptions options);
    ~Scanner();
    Scanner(const Scanner&) = delete;
    Scanner& operator=(const Scanner&) = delete;

    // Findings sorted by start, never overlapping (of two overlapping candidates the
    // higher score wins, then the longer), each scoring at least min_score.
    std::vector<Finding> scan(std::string_view text) const;
    const ScannerOptions& options() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

namespace detail {
class PhoneFinder;
}

struct RedactOptions {
    std::string placeholder = "<{type}>";  // {type} becomes the finding's type
    // Replace with fake values instead: deterministic from the seed and the original
    // value (the same value gets the same surrogate everywhere in a run), in the
    // original's format where that is easy, and never themselves detected as PII.
    bool surrogate = false;
    uint64_t seed = 0;
    // The scanner's phone regions: a phone surrogate must not be a valid number there.
    std::vector<std::string> phone_regions = {"US"};
};

class Redactor {
  public:
    explicit Redactor(RedactOptions options = {});
    // `text` with every finding's span replaced; findings as scan() returns them.
    std::string redact(std::string_view text, const std::vector<Finding>& findings) const;
    // What replaces one finding.
    std::string replacement(const Finding& finding) const;
    // The fake value for one finding; the placeholder for types without one (custom
    // patterns, deny-lists).
    std::string surrogate(const Finding& finding) const;

  private:
    RedactOptions options_;
    std::shared_ptr<const detail::PhoneFinder> phones_;  // surrogate checks; null without surrogates
};

// The validators behind the findings, usable on their own.
namespace validate {
bool luhn(std::string_view digits);  // digits only
// The card scheme whose IIN range and length fit `digits` ("visa", "mastercard", "amex",
// "discover", "jcb", "diners", "unionpay", "maestro", "mir"), or "" when none does.
std::string card_brand(std::string_view digits);
size_t iban_length(std::string_view country);   // ISO 13616 length for the country code; 0 if unknown
bool iban(std::string_view text);               // spaces allowed; length for the country and mod-97 == 1
bool us_ssn(std::string_view digits);           // 9 digits; the SSA's never-issued and well-known numbers fail
bool email(std::string_view address);           // syntax, lengths, labels, a TLD of 2+ letters
bool ipv4(std::string_view text);               // inet_pton, no leading zeros
bool ipv6(std::string_view text);               // inet_pton
bool mac(std::string_view text);                // aa:bb:cc:dd:ee:ff, aa-bb-..., aabb.ccdd.eeff
bool base58check(std::string_view address);     // Bitcoin P2PKH/P2SH: version byte and double-SHA-256 checksum
bool bech32_address(std::string_view address);  // bc1...: bech32 for witness v0, bech32m for v1+
bool ethereum(std::string_view address);        // 0x + 40 hex; mixed case must be the EIP-55 checksum
std::string eip55(std::string_view hex40);      // the EIP-55 spelling of 40 hex digits
double shannon_entropy(std::string_view text);  // bits per byte
}  // namespace validate

}  // namespace synthforge::privacy
