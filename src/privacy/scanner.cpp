// The PII scanner: one RE2::Set pass over a text tells which patterns occur; only those
// patterns are then run again to extract spans, and each span must pass its entity's
// validator and context rules before it becomes a finding. Most texts hold no PII, so
// the common case costs the single Set pass.
//
// Patterns are written for RE2 (no look-around): boundaries that need look-around, such
// as "not followed by .digit" for IPv4, are checked in code on the extracted span.
#include "privacy/pii_internal.h"
#include "synthforge/privacy/pii.h"

#include <arpa/inet.h>
#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>

namespace synthforge::privacy {

using detail::ascii_lower;
using detail::is_ascii_alnum;
using detail::is_ascii_digit;

const std::vector<std::string>& builtin_entity_types() {
    static const std::vector<std::string> types = {kEmail,     kPhone,      kCreditCard,     kIban,          kUsSsn,
                                                   kIpAddress, kMacAddress, kUrlCredentials, kCryptoAddress, kSecret};
    return types;
}

namespace {

enum class Rule {
    email,
    url_credentials,
    ipv4,
    ipv6,
    mac,
    credit_card,
    iban,
    ssn,
    phone_cluster,
    bitcoin_base58,
    bitcoin_bech32,
    ethereum,
    aws_key,
    github_token,
    slack_token,
    openai_key,
    google_api_key,
    stripe_key,
    jwt,
    private_key,
    secret_keyword,
    custom,
    deny_list,
};

struct BuiltinPattern {
    Rule rule;
    const char* type;
    const char* regex;
};

// One pattern per rule. Lengths and separators are checked again in code, so the
// patterns stay loose enough for a compact DFA.
const BuiltinPattern kBuiltins[] = {
    {Rule::email, kEmail, R"([A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})"},
    {Rule::url_credentials, kUrlCredentials,
     R"(\b[A-Za-z][A-Za-z0-9+.\-]*://([^\s:/?#@\[\]"'<>]+:[^\s/?#@"'<>]+)@[A-Za-z0-9.\-\[\]]+)"},
    {Rule::ipv4, kIpAddress, R"(\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b)"},
    // IPv6: eight groups, or "::" with up to seven around it, or either ending in a dotted quad;
    // "12:30:45" and "a:b:c" are none of these, so times do not make the Set report IPv6.
    {Rule::ipv6, kIpAddress,
     R"((?:(?:[0-9A-Fa-f]{1,4}:){6}|(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,4})?::(?:[0-9A-Fa-f]{1,4}:){0,4})\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})"
     R"(|(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?:%[0-9A-Za-z]+)?)"
     R"(|(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?(?:%[0-9A-Za-z]+)?)"},
    {Rule::mac, kMacAddress,
     R"(\b[0-9A-Fa-f]{2}[:\-][0-9A-Fa-f]{2}[:\-][0-9A-Fa-f]{2}[:\-][0-9A-Fa-f]{2}[:\-][0-9A-Fa-f]{2}[:\-][0-9A-Fa-f]{2}\b|\b[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\b)"},
    {Rule::credit_card, kCreditCard,
     R"(\b(?:\d{4}(?:[ \-]\d{4}){2,3}(?:[ \-]\d{1,4})?|\d{4}[ \-]\d{6}[ \-]\d{4,5}|\d{13,19})\b)"},
    {Rule::iban, kIban, R"(\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b)"},
    {Rule::ssn, kUsSsn, R"(\b(?:\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4}|\d{9})\b)"},
    {Rule::phone_cluster, kPhone, R"([+(]?\d[\d ()\-.]{5,40}\d)"},
    {Rule::bitcoin_base58, kCryptoAddress, R"(\b[13][1-9A-HJ-NP-Za-km-z]{25,34}\b)"},
    {Rule::bitcoin_bech32, kCryptoAddress, R"(\b(?:bc1|BC1)[02-9ac-hj-np-zAC-HJ-NP-Z]{11,87}\b)"},
    {Rule::ethereum, kCryptoAddress, R"(\b0x[0-9a-fA-F]{40}\b)"},
    {Rule::aws_key, kSecret, R"(\b(?:AKIA|ASIA)[A-Z0-9]{16}\b)"},
    {Rule::github_token, kSecret, R"(\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})\b)"},
    {Rule::slack_token, kSecret, R"(\bxox[bpas]-[A-Za-z0-9\-]{10,})"},
    {Rule::openai_key, kSecret, R"(\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,})"},
    {Rule::google_api_key, kSecret, R"(\bAIza[0-9A-Za-z_\-]{35})"},
    {Rule::stripe_key, kSecret, R"(\b(?:sk|rk)_live_[0-9A-Za-z]{20,})"},
    {Rule::jwt, kSecret, R"(\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})"},
    {Rule::private_key, kSecret, R"(-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)"},
    {Rule::secret_keyword, kSecret,
     R"((?i)(?:api[_\-]?key|apikey|access[_\-]?key|secret|token|passw(?:or)?d|pwd|passphrase|credentials?|bearer|auth[_\-]?key))"},
};

// ---- context words ---------------------------------------------------------------------

using Words = std::vector<std::string_view>;

const Words kEmailContext = {"email", "e-mail", "mail", "contact", "reach", "write to"};
const Words kPhoneContext = {"call",     "phone", "tel",     "telephone", "mobile", "cell",   "fax",  "contact",
                             "whatsapp", "sms",   "text me", "dial",      "reach",  "number", "ring", "hotline"};
const Words kCardContext = {"card",     "credit",  "debit",  "visa",    "mastercard", "amex", "american express",
                            "discover", "jcb",     "diners", "maestro", "unionpay",   "cc",   "payment",
                            "pay with", "charged", "billing"};
const Words kIbanContext = {"iban", "account", "bank", "transfer", "sepa", "wire", "pay"};
const Words kSsnContext = {"ssn",        "social security", "social-security", "ss#", "ss #",
                           "social sec", "tax id",          "taxpayer",        "tin"};
const Words kIpContext = {"ip",      "address", "addr",  "host", "server", "client", "from",   "connect", "ping",
                          "gateway", "dns",     "proxy", "ipv4", "ipv6",   "login",  "logged", "request", "source"};
const Words kMacContext = {"mac", "hardware", "ethernet", "wifi",    "wi-fi",     "wlan",
                           "nic", "bssid",    "device",   "adapter", "interface", "ether"};
const Words kCryptoContext = {"bitcoin", "btc",  "wallet", "address", "eth",     "ethereum",
                              "ether",   "send", "crypto", "usdt",    "metamask"};
// Words that say a number is an identifier, not a phone/card/SSN.
const Words kIdentifierContext = {"order",    "invoice", "isbn",   "id",    "ref",         "reference",    "tracking",
                                  "serial",   "sku",     "ticket", "case",  "transaction", "confirmation", "po",
                                  "customer", "item",    "part",   "model", "batch"};
// Words that say a dotted quad is a version or a section number.
const Words kVersionContext = {"version", "ver",    "v",       "release",  "build",     "rev",   "revision",
                               "section", "sec",    "chapter", "figure",   "fig",       "table", "step",
                               "rule",    "clause", "article", "item",     "paragraph", "para",  "appendix",
                               "part",    "oid",    "§",       "firmware", "patch",     "sdk",   "python",
                               "java",    "chrome", "libc"};

// The bytes before `start`, lowercased: where context words are looked for.
std::string lower_window(std::string_view text, size_t start, size_t before) {
    const size_t b = start > before ? start - before : 0;
    std::string w(text.substr(b, start - b));
    for (char& c : w) c = ascii_lower(c);
    return w;
}

bool letter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// True when one of `words` occurs in the window as the start of a word.
bool window_has(const std::string& w, const Words& words) {
    for (auto word : words) {
        for (size_t at = w.find(word); at != std::string::npos; at = w.find(word, at + 1)) {
            const bool starts = at == 0 || !letter(w[at - 1]);
            const size_t after = at + word.size();
            // Short words must also end there ("tel" is not "telling"); longer ones may
            // run on ("phones", "calling").
            const bool ends = word.size() > 4 || after == w.size() || !letter(w[after]);
            if (starts && ends) return true;
        }
    }
    return false;
}

// The last `n` words before `start` in the same sentence (runs of letters, digits and
// non-ASCII bytes), lowercased, nearest first.
std::vector<std::string> previous_words(std::string_view text, size_t start, size_t n) {
    std::vector<std::string> out;
    size_t i = start;
    while (out.size() < n && i > 0) {
        while (i > 0 && !(is_ascii_alnum(text[i - 1]) || static_cast<unsigned char>(text[i - 1]) >= 0x80)) {
            const char c = text[i - 1];
            if (start - i > 24 || c == '\n' || c == '!' || c == '?' || c == ';') return out;
            if (c == '.' && i < start && text[i] == ' ') return out;  // the previous sentence
            --i;
        }
        const size_t end = i;
        while (i > 0 && (is_ascii_alnum(text[i - 1]) || static_cast<unsigned char>(text[i - 1]) >= 0x80)) --i;
        if (end == i) break;
        std::string w(text.substr(i, end - i));
        for (char& c : w) c = ascii_lower(c);
        out.push_back(std::move(w));
    }
    return out;
}

bool any_in(const std::vector<std::string>& words, const Words& list) {
    for (const auto& w : words)
        for (auto l : list)
            if (w == l) return true;
    return false;
}

bool word_char(char c) {
    return is_ascii_alnum(c) || c == '_';
}

double clamp_score(double s) {
    s = std::clamp(s, 0.0, 1.0);
    return std::round(s * 100.0) / 100.0;
}

std::string digits_of(std::string_view s) {
    std::string d;
    for (char c : s)
        if (is_ascii_digit(c)) d += c;
    return d;
}

// A number glued to a longer numeric sequence: "-5", ".5" or a digit right outside.
bool numeric_neighbours(std::string_view text, size_t start, size_t end) {
    if (start > 0) {
        const char p = text[start - 1];
        if (is_ascii_digit(p)) return true;
        if ((p == '-' || p == '.' || p == '/') && start > 1 && is_ascii_digit(text[start - 2])) return true;
    }
    if (end < text.size()) {
        const char n = text[end];
        if (is_ascii_digit(n)) return true;
        if ((n == '-' || n == '.' || n == '/') && end + 1 < text.size() && is_ascii_digit(text[end + 1])) return true;
    }
    return false;
}

bool iban_tail(std::string_view text, size_t s);

struct Entry {
    Rule rule;
    std::string type;
    std::unique_ptr<RE2> re;
    size_t index = 0;  // into options.patterns / options.deny_lists
};

}  // namespace

struct Scanner::Impl {
    ScannerOptions options;
    std::vector<Entry> entries;
    std::unique_ptr<RE2::Set> set;
    std::unique_ptr<detail::PhoneFinder> phone;
    bool nanp_only = false;  // every phone region dials +1: national numbers have 10 digits

    void extract(const Entry& e, std::string_view text, std::vector<Finding>& out) const;
    void find_phones(std::string_view text, std::vector<Finding>& out) const;
    void keyword_secrets(std::string_view text, size_t keyword_end, std::vector<Finding>& out) const;
};

namespace {

RE2::Options re_options(bool case_sensitive = true) {
    RE2::Options o;
    o.set_log_errors(false);
    o.set_max_mem(64 << 20);
    o.set_case_sensitive(case_sensitive);
    return o;
}

std::string deny_list_regex(const DenyList& list) {
    std::string re = "(?:";
    bool first = true;
    for (const auto& term : list.terms) {
        if (term.empty()) continue;
        if (!first) re += "|";
        first = false;
        if (word_char(term.front())) re += "\\b";
        re += RE2::QuoteMeta(term);
        if (word_char(term.back())) re += "\\b";
    }
    re += ")";
    return list.case_sensitive ? re : "(?i)" + re;
}

bool valid_name(const std::string& name) {
    if (name.empty() || !(name[0] >= 'A' && name[0] <= 'Z')) return false;
    for (char c : name)
        if (!((c >= 'A' && c <= 'Z') || is_ascii_digit(c) || c == '_')) return false;
    return true;
}

}  // namespace

Scanner::Scanner(ScannerOptions options) : impl_(new Impl) {
    impl_->options = std::move(options);
    auto& o = impl_->options;
    const auto& builtins = builtin_entity_types();
    for (const auto& e : o.entities)
        if (std::find(builtins.begin(), builtins.end(), e) == builtins.end())
            throw std::invalid_argument("unknown entity type '" + e + "'");
    auto enabled = [&](const char* type) {
        return o.entities.empty() || std::find(o.entities.begin(), o.entities.end(), type) != o.entities.end();
    };

    RE2::Options set_options = re_options();
    set_options.set_max_mem(256 << 20);
    impl_->set = std::make_unique<RE2::Set>(set_options, RE2::UNANCHORED);
    auto add = [&](Rule rule, const std::string& type, const std::string& regex, size_t index, bool case_sensitive) {
        auto re = std::make_unique<RE2>(regex, re_options(case_sensitive));
        if (!re->ok()) throw std::invalid_argument("invalid regular expression for " + type + ": " + re->error());
        std::string err;
        const std::string set_regex = case_sensitive ? regex : "(?i)" + regex;
        if (impl_->set->Add(set_regex, &err) < 0)
            throw std::invalid_argument("invalid regular expression for " + type + ": " + err);
        impl_->entries.push_back({rule, type, std::move(re), index});
    };
    for (const auto& b : kBuiltins)
        if (enabled(b.type)) add(b.rule, b.type, b.regex, 0, true);

    std::vector<std::string> names(builtins);
    auto check_name = [&](const std::string& name, const char* what) {
        if (!valid_name(name))
            throw std::invalid_argument(std::string(what) + " name '" + name +
                                        "': use upper-case letters, digits and _, starting with a letter");
        if (std::find(names.begin(), names.end(), name) != names.end())
            throw std::invalid_argument(std::string(what) + " name '" + name + "' is taken");
        names.push_back(name);
    };
    for (size_t i = 0; i < o.patterns.size(); ++i) {
        check_name(o.patterns[i].name, "pattern");
        add(Rule::custom, o.patterns[i].name, o.patterns[i].regex, i, true);
    }
    for (size_t i = 0; i < o.deny_lists.size(); ++i) {
        check_name(o.deny_lists[i].name, "deny-list");
        bool any = false;
        for (const auto& t : o.deny_lists[i].terms) any |= !t.empty();
        if (!any) continue;  // an empty list finds nothing
        add(Rule::deny_list, o.deny_lists[i].name, deny_list_regex(o.deny_lists[i]), i, true);
    }
    if (!impl_->set->Compile()) throw std::invalid_argument("the PII patterns do not fit in RE2's memory budget");

    if (enabled(kPhone)) {
        impl_->phone = std::make_unique<detail::PhoneFinder>(o.phone_regions);
        impl_->nanp_only = true;
        for (const auto& r : impl_->phone->regions())
            if (r != "US" && r != "CA") impl_->nanp_only = false;
    }
}

Scanner::~Scanner() = default;

const ScannerOptions& Scanner::options() const {
    return impl_->options;
}

namespace {

// Calls f(start, end, span_start, span_end) for each leftmost-first, non-overlapping
// match; the span is the first capturing group when the pattern has one.
void for_each_match(const RE2& re, std::string_view text,
                    const std::function<void(size_t, size_t, size_t, size_t)>& f) {
    const re2::StringPiece whole(text.data(), text.size());
    const int groups = std::min(re.NumberOfCapturingGroups(), 1) + 1;
    re2::StringPiece m[2];
    size_t pos = 0;
    while (pos <= text.size() && re.Match(whole, pos, text.size(), RE2::UNANCHORED, m, groups)) {
        const size_t s = static_cast<size_t>(m[0].data() - text.data()), e = s + m[0].size();
        size_t ss = s, se = e;
        if (groups == 2 && m[1].data()) {
            ss = static_cast<size_t>(m[1].data() - text.data());
            se = ss + m[1].size();
        }
        f(s, e, ss, se);
        pos = e > s ? e : e + 1;
    }
}

Finding make(std::string_view text, const char* type, std::string kind, size_t s, size_t e, double score) {
    return Finding{type, std::move(kind), s, e, std::string(text.substr(s, e - s)), clamp_score(score)};
}

bool password_placeholder(std::string_view pw) {
    std::string p(pw);
    for (char& c : p) c = ascii_lower(c);
    // Templates: <password>, ${DB_PASS}, {{pw}}, %(pw)s, [password], $PASSWORD.
    if (p.empty() || p[0] == '<' || p[0] == '{' || p[0] == '[' || p.starts_with("${") || p.starts_with("$(") ||
        p.starts_with("%(") || p == "%s")
        return true;
    if (pw.size() > 1 && pw[0] == '$' &&
        pw.substr(1).find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == std::string_view::npos)
        return true;
    if (p.find_first_not_of("*x.") == std::string::npos) return true;
    for (std::string_view w : {"password", "pass", "passwd", "pwd", "secret", "redacted", "changeme", "yourpassword",
                               "your_password", "mypassword", "pw", "token"})
        if (p == w) return true;
    return false;
}

bool mixed_classes(std::string_view s) {
    bool lower = false, upper = false, digit = false;
    for (char c : s) {
        lower |= c >= 'a' && c <= 'z';
        upper |= c >= 'A' && c <= 'Z';
        digit |= is_ascii_digit(c);
    }
    return digit && (lower || upper);
}

}  // namespace

void Scanner::Impl::extract(const Entry& e, std::string_view text, std::vector<Finding>& out) const {
    auto before = [&](size_t s, size_t n = 48) { return lower_window(text, s, n); };
    switch (e.rule) {
        case Rule::email:
            for_each_match(*e.re, text, [&](size_t s, size_t end, size_t, size_t) {
                if (end < text.size() && (word_char(text[end]) || text[end] == '-' || text[end] == '@')) return;
                const std::string_view a = text.substr(s, end - s);
                if (!validate::email(a)) return;
                std::string domain(a.substr(a.find('@') + 1));
                for (char& c : domain) c = ascii_lower(c);
                if (detail::reserved_email_domain(domain)) return;
                // The user:password@host of a URL is not an address (one in its path or
                // query, "?to=jane@acme.io", is).
                if (s > 0) {
                    const size_t space = text.find_last_of(" \t\n\"'<>", s - 1);
                    const size_t from = space == std::string_view::npos ? 0 : space;
                    const size_t scheme = text.substr(from, s - from).find("://");
                    if (scheme != std::string_view::npos &&
                        text.substr(from + scheme + 3, s - from - scheme - 3).find_first_of("/?#") ==
                            std::string_view::npos)
                        return;
                }
                const double score = 0.9 + (window_has(before(s), kEmailContext) ? 0.1 : 0);
                out.push_back(make(text, kEmail, "", s, end, score));
            });
            break;
        case Rule::url_credentials:
            for_each_match(*e.re, text, [&](size_t, size_t, size_t ss, size_t se) {
                const std::string_view userinfo = text.substr(ss, se - ss);
                const size_t colon = userinfo.find(':');
                if (password_placeholder(userinfo.substr(colon + 1))) return;
                out.push_back(make(text, kUrlCredentials, "", ss, se, 0.95));
            });
            break;
        case Rule::ipv4:
            for_each_match(*e.re, text, [&](size_t s, size_t end, size_t, size_t) {
                if (numeric_neighbours(text, s, end)) return;  // part of 1.2.3.4.5 or a longer number
                if (end + 1 < text.size() && text[end] == '-' && letter(text[end + 1])) return;  // 1.2.3.4-beta
                const std::string_view ip = text.substr(s, end - s);
                if (!validate::ipv4(ip)) return;
                if (any_in(previous_words(text, s, 2), kVersionContext)) return;
                uint8_t a[4];
                char buf[16] = {};
                std::memcpy(buf, ip.data(), ip.size());
                inet_pton(AF_INET, buf, a);
                if (detail::reserved_ipv4(a)) return;
                // Private and link-local addresses identify no one outside their network:
                // below the default min_score even with an "IP" word before them.
                double score = detail::private_ipv4(a) ? 0.25 : 0.7;
                if (window_has(before(s), kIpContext)) score += 0.2;
                out.push_back(make(text, kIpAddress, "ipv4", s, end, score));
            });
            break;
        case Rule::ipv6:
            for_each_match(*e.re, text, [&](size_t s, size_t end, size_t, size_t) {
                if (s > 0 && (is_ascii_alnum(text[s - 1]) || text[s - 1] == ':' || text[s - 1] == '_')) return;
                if (end < text.size() && (is_ascii_alnum(text[end]) || text[end] == ':' || text[end] == '_')) return;
                const std::string_view ip = text.substr(s, end - s);
                if (!validate::ipv6(ip)) return;
                // Code such as "dead::beef" or "a::b" parses too: an address has a digit
                // and at least three groups.
                size_t colons = 0, digits = 0;
                for (char c : ip) {
                    colons += c == ':';
                    digits += is_ascii_digit(c);
                }
                if (digits == 0 || colons < 2) return;
                uint8_t a[16];
                std::string buf(ip.substr(0, ip.find('%')));
                inet_pton(AF_INET6, buf.c_str(), a);
                if (detail::reserved_ipv6(a)) return;
                double score = detail::private_ipv6(a) ? 0.25 : 0.75;
                if (window_has(before(s), kIpContext)) score += 0.2;
                out.push_back(make(text, kIpAddress, "ipv6", s, end, score));
            });
            break;
        case Rule::mac:
            for_each_match(*e.re, text, [&](size_t s, size_t end, size_t, size_t) {
                if (s > 0 && (text[s - 1] == ':' || text[s - 1] == '-' || text[s - 1] == '.')) return;
                if (end < text.size() && (text[end] == ':' || text[end] == '-' ||
                                          (text[end] == '.' && end + 1 < text.size() && is_ascii_alnum(text[end + 1]))))
                    return;
                const std::string_view m = text.substr(s, end - s);
                if (!validate::mac(m)) return;
                std::string hex;
                for (char c : m)
                    if (detail::is_hex(c)) hex += ascii_lower(c);
                if (hex == "000000000000" || hex == "ffffffffffff" || hex.starts_with("00005e0053")) return;
                if (m.size() == 14 && hex.find_first_not_of("0123456789") == std::string::npos)
                    return;  // 1234.5678.9012 is a number, not Cisco's MAC notation
                const double score = 0.75 + (window_has(before(s), kMacContext) ? 0.2 : 0);
                out.push_back(make(text, kMacAddress, "", s, end, score));
            });
            break;
        case Rule::credit_card:
            for_each_match(*e.re, text, [&](size_t s, size_t end, size_t, size_t) {
                if (numeric_neighbours(text, s, end)) return;
                if (iban_tail(text, s)) return;  // the grouped digits of an IBAN, valid or not
                const std::string_view raw = text.substr(s, end - s);
                const std::string d = digits_of(raw);
                if (d.size() < 13 || d.size() > 19) return;
                char sep = 0;
                for (char c : raw) {
                    if (is_ascii_digit(c)) continue;
                    if (sep && c != sep) return;  // one separator style per number
                    sep = c;
                }
                if (!validate::luhn(d)) return;
                const std::string brand = validate::card_brand(d);
                if (brand.empty()) return;
                if (d.find_first_not_of(d[0]) == std::string::npos) return;
                double score = sep ? 0.85 : 0.7;
                const std::string w = before(s);
                if (window_has(w, kCardContext)) score += 0.15;
                if (any_in(previous_words(text, s, 2), kIdentifierContext)) score -= 0.4;
                out.push_back(make(text, kCreditCard, brand, s, end, score));
            });
            break;
        case Rule::iban:
            for_each_match(*e.re, text, [&](size_t s, size_t end, size_t, size_t) {
                const size_t want = validate::iban_length(text.substr(s, 2));
                if (!want) return;
                // The pattern may run on into the next word ("... 3000 IN CASH"): take
                // exactly the country's length, grouped in fours or not at all.
                size_t count = 0, i = s;
                bool spaced = false;
                for (; i < end && count < want; ++i) {
                    if (text[i] == ' ') {
                        if (count % 4 != 0) return;
                        spaced = true;
                        continue;
                    }
                    ++count;
                }
                if (count != want) return;
                if (i < text.size() && is_ascii_alnum(text[i])) return;
                if (spaced) {
                    for (size_t k = s, n = 0; k < i; ++k) {
                        if (text[k] == ' ') continue;
                        if (n % 4 == 0 && n > 0 && text[k - 1] != ' ') return;
                        ++n;
                    }
                }
                const std::string_view iban = text.substr(s, i - s);
                if (!validate::iban(iban)) return;
                const double score = 0.95 + (window_has(before(s), kIbanContext) ? 0.05 : 0);
                out.push_back(make(text, kIban, "", s, i, score));
            });
            break;
        case Rule::ssn:
            for_each_match(*e.re, text, [&](size_t s, size_t end, size_t, size_t) {
                if (numeric_neighbours(text, s, end)) return;
                if (s > 1 && text[s - 1] == ' ' && is_ascii_digit(text[s - 2])) return;  // inside "1 234 56 7890"
                if (end + 1 < text.size() && text[end] == ' ' && is_ascii_digit(text[end + 1])) return;
                const std::string_view raw = text.substr(s, end - s);
                const std::string d = digits_of(raw);
                if (!validate::us_ssn(d)) return;
                double score = raw.size() == 11 ? 0.6 : 0.3;
                if (window_has(before(s, 40), kSsnContext)) score += 0.35;
                if (any_in(previous_words(text, s, 2), kIdentifierContext)) score -= 0.3;
                out.push_back(make(text, kUsSsn, "", s, end, score));
            });
            break;
        case Rule::bitcoin_base58:
            for_each_match(*e.re, text, [&](size_t s, size_t end, size_t, size_t) {
                if (!validate::base58check(text.substr(s, end - s))) return;
                const double score = 0.95 + (window_has(before(s), kCryptoContext) ? 0.05 : 0);
                out.push_back(make(text, kCryptoAddress, "bitcoin", s, end, score));
            });
            break;
        case Rule::bitcoin_bech32:
            for_each_match(*e.re, text, [&](size_t s, size_t end, size_t, size_t) {
                if (!validate::bech32_address(text.substr(s, end - s))) return;
                const double score = 0.95 + (window_has(before(s), kCryptoContext) ? 0.05 : 0);
                out.push_back(make(text, kCryptoAddress, "bitcoin", s, end, score));
            });
            break;
        case Rule::ethereum:
            for_each_match(*e.re, text, [&](size_t s, size_t end, size_t, size_t) {
                const std::string_view a = text.substr(s, end - s);
                if (!validate::ethereum(a)) return;
                if (a.substr(2).find_first_not_of('0') == std::string_view::npos) return;  // the zero address
                bool lower = false, upper = false;
                for (char c : a.substr(2)) {
                    lower |= c >= 'a' && c <= 'f';
                    upper |= c >= 'A' && c <= 'F';
                }
                double score = (lower && upper) ? 0.95 : 0.75;
                if (window_has(before(s), kCryptoContext)) score += 0.15;
                out.push_back(make(text, kCryptoAddress, "ethereum", s, end, score));
            });
            break;
        case Rule::aws_key:
        case Rule::github_token:
        case Rule::slack_token:
        case Rule::openai_key:
        case Rule::google_api_key:
        case Rule::stripe_key:
        case Rule::jwt: {
            static const std::pair<Rule, const char*> kinds[] = {{Rule::aws_key, "aws_access_key_id"},
                                                                 {Rule::github_token, "github_token"},
                                                                 {Rule::slack_token, "slack_token"},
                                                                 {Rule::openai_key, "openai_key"},
                                                                 {Rule::google_api_key, "google_api_key"},
                                                                 {Rule::stripe_key, "stripe_key"},
                                                                 {Rule::jwt, "jwt"}};
            const char* kind = "";
            for (const auto& [r, k] : kinds)
                if (r == e.rule) kind = k;
            for_each_match(*e.re, text, [&](size_t s, size_t end, size_t, size_t) {
                if (end < text.size() && (word_char(text[end]) || text[end] == '-')) return;
                const std::string_view token = text.substr(s, end - s);
                if (detail::placeholder_secret(token)) return;
                double score = 0.95;
                if (e.rule == Rule::openai_key || e.rule == Rule::slack_token) {
                    // "sk-learn-style-names" and "xoxb-your-token-here" are words, not keys.
                    const std::string_view body = token.substr(token.find('-') + 1);
                    if (!mixed_classes(body) || validate::shannon_entropy(body) < 3.0) return;
                    score = 0.9;
                }
                out.push_back(make(text, kSecret, kind, s, end, score));
            });
            break;
        }
        case Rule::private_key:
            for_each_match(*e.re, text, [&](size_t s, size_t end, size_t, size_t) {
                size_t stop = end;
                const size_t footer = text.substr(end, 32768).find("-----END ");
                if (footer != std::string_view::npos) {
                    const size_t dashes = text.find("-----", end + footer + 9);
                    stop = dashes == std::string_view::npos ? end + footer + 9 : dashes + 5;
                } else {  // a truncated block: the base64 lines after the header
                    while (stop < text.size() &&
                           (is_ascii_alnum(text[stop]) || std::strchr("+/=\r\n\t :-", text[stop]) != nullptr))
                        ++stop;
                }
                const std::string_view body =
                    text.substr(end, (footer != std::string_view::npos ? end + footer : stop) - end);
                size_t b64 = 0;
                for (char c : body) b64 += is_ascii_alnum(c) || c == '+' || c == '/';
                if (b64 < 32 || detail::placeholder_secret(body)) return;  // "-----BEGIN ... KEY-----\n...\n"
                out.push_back(make(text, kSecret, "private_key", s, stop, 1.0));
            });
            break;
        case Rule::secret_keyword:
            for_each_match(*e.re, text, [&](size_t, size_t end, size_t, size_t) { keyword_secrets(text, end, out); });
            break;
        case Rule::custom: {
            const auto& p = options.patterns[e.index];
            Words ctx;
            for (const auto& w : p.context) ctx.push_back(w);
            for_each_match(*e.re, text, [&](size_t s, size_t, size_t ss, size_t se) {
                if (se == ss) return;
                double score = p.score;
                if (!ctx.empty() && window_has(before(s), ctx)) score += 0.15;
                Finding f{p.name, "", ss, se, std::string(text.substr(ss, se - ss)), clamp_score(score)};
                out.push_back(std::move(f));
            });
            break;
        }
        case Rule::deny_list: {
            const auto& d = options.deny_lists[e.index];
            for_each_match(*e.re, text, [&](size_t s, size_t end, size_t, size_t) {
                if (end == s) return;
                out.push_back(Finding{d.name, "", s, end, std::string(text.substr(s, end - s)), clamp_score(d.score)});
            });
            break;
        }
        case Rule::phone_cluster:
            break;  // after the others: find_phones skips clusters they explain
    }
}

// A token within a few words after "api_key", "password", "token" ... that looks random
// enough to be a credential: long, mixed character classes, high Shannon entropy.
void Scanner::Impl::keyword_secrets(std::string_view text, size_t pos, std::vector<Finding>& out) const {
    constexpr size_t kMaxWords = 4, kMaxBytes = 96;
    auto token_char = [](char c) { return is_ascii_alnum(c) || std::strchr("+/=_-.~!@#$%^&*?|\\", c) != nullptr; };
    // The rest of the identifier the keyword is part of ("api_key_prod").
    while (pos < text.size() && (word_char(text[pos]) || text[pos] == '-')) ++pos;
    const size_t limit = std::min(text.size(), pos + kMaxBytes);
    for (size_t words = 0; pos < limit && words < kMaxWords; ++words) {
        while (pos < limit && !token_char(text[pos])) {
            if (text[pos] == '\n') return;
            ++pos;
        }
        size_t s = pos;
        while (pos < text.size() && token_char(text[pos])) ++pos;
        size_t e = pos;
        while (s < e && (text[s] == '=' || text[s] == ':')) ++s;          // key=value, key:value
        while (e > s && (text[e - 1] == '.' || text[e - 1] == ',')) --e;  // sentence end
        const std::string_view tok = text.substr(s, e - s);
        if (tok.size() < options.entropy_min_length) continue;
        if (tok.find("://") != std::string_view::npos || tok[0] == '~' || tok[0] == '.') continue;
        if (tok[0] == '/' && tok.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == std::string_view::npos)
            continue;  // a path; base64 that starts with '/' has upper-case letters
        if (!mixed_classes(tok) || detail::placeholder_secret(tok)) continue;
        const double h = validate::shannon_entropy(tok);
        if (h < options.entropy_threshold) continue;
        out.push_back(make(text, kSecret, "high_entropy", s, e, h >= 4.0 ? 0.85 : 0.75));
        return;
    }
}

namespace {

// ISO dates and d/m/y dates are the commonest digit clusters that are no phone numbers.
bool date_like(std::string_view c) {
    auto digits = [&](size_t from, size_t n) {
        if (from + n > c.size()) return false;
        for (size_t i = from; i < from + n; ++i)
            if (!is_ascii_digit(c[i])) return false;
        return true;
    };
    auto sep = [&](size_t i) { return i < c.size() && (c[i] == '-' || c[i] == '.' || c[i] == '/'); };
    if (digits(0, 4) && sep(4) && digits(5, 2) && sep(7) && digits(8, 2)) return true;  // 2024-01-31
    if (digits(0, 2) && sep(2) && digits(3, 2) && sep(5) && digits(6, 4)) return true;  // 31.01.2024
    return false;
}

// Digits that continue a space-grouped IBAN ("NL78 UYIL 5109 7191 62"), valid or not:
// four-character groups back to a country code and check digits.
bool iban_tail(std::string_view text, size_t s) {
    auto upper_or_digit = [](char c) { return is_ascii_digit(c) || (c >= 'A' && c <= 'Z'); };
    for (int groups = 0; groups < 8 && s >= 5 && text[s - 1] == ' '; ++groups) {
        const size_t g = s - 5;
        for (size_t i = g; i < g + 4; ++i)
            if (!upper_or_digit(text[i])) return false;
        if (text[g] >= 'A' && text[g] <= 'Z' && text[g + 1] >= 'A' && text[g + 1] <= 'Z' &&
            is_ascii_digit(text[g + 2]) && is_ascii_digit(text[g + 3]) && (g == 0 || !is_ascii_alnum(text[g - 1])))
            return true;
        s = g;
    }
    return false;
}

// The position of the first ASCII digit at or after `i`, or text.size(). Eight bytes at a
// time: most of a text is letters, and this loop runs over every text with digits.
size_t next_digit(std::string_view text, size_t i) {
    constexpr uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
    const size_t n = text.size();
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        std::memcpy(&x, text.data() + i, 8);
        // A byte b in 0x30..0x39 (SWAR "has a byte between 0x2F and 0x3A", exact for every byte value).
        const uint64_t lo = x & ~kHigh;
        const uint64_t between = (kOnes * (127 + 0x3A) - lo) & ~x & (lo + kOnes * (127 - 0x2F)) & kHigh;
        if (between) return i + static_cast<size_t>(__builtin_ctzll(between) / 8);
    }
    for (; i < n; ++i)
        if (is_ascii_digit(text[i])) return i;
    return n;
}

// Bytes of a digit cluster: digits and the separators phone numbers are written with.
bool cluster_byte(char c) {
    return is_ascii_digit(c) || c == ' ' || c == '(' || c == ')' || c == '-' || c == '.' || c == '+';
}

// A NANP number somewhere in the digits: area code and exchange both start with 2-9.
bool nanp_plausible(const std::string& d) {
    for (size_t i = 0; i + 10 <= d.size(); ++i)
        if (d[i] >= '2' && d[i + 3] >= '2') return true;
    return false;
}

}  // namespace

void Scanner::Impl::find_phones(std::string_view text, std::vector<Finding>& out) const {
    // The other findings' spans by start, with the furthest end so far: a cluster inside one
    // of them (a card, an IBAN, an SSN ...) is looked up in O(log n).
    std::vector<std::pair<size_t, size_t>> spans;
    spans.reserve(out.size());
    for (const auto& f : out) spans.emplace_back(f.start, f.end);
    std::sort(spans.begin(), spans.end());
    for (size_t i = 1; i < spans.size(); ++i) spans[i].second = std::max(spans[i].second, spans[i - 1].second);
    auto covered = [&](size_t s, size_t end) {
        auto it = std::upper_bound(spans.begin(), spans.end(), std::make_pair(s, SIZE_MAX));
        return it != spans.begin() && std::prev(it)->second >= end;
    };
    std::vector<detail::PhoneFinder::Match> matches;
    // One cluster may hold a sentence end, a date and then a number ("on 2023-06-01. 415
    // 555 2671"): clusters are cut at ". " and a leading date is dropped, and each piece
    // is checked on its own.
    auto piece = [&](size_t s, size_t end) {
        while (s < end && !is_ascii_digit(text[s]) && text[s] != '+' && text[s] != '(') ++s;
        while (end > s && !is_ascii_digit(text[end - 1]) && text[end - 1] != ')') --end;
        if (end - s >= 10 && date_like(text.substr(s, end - s))) {
            s += 10;
            while (s < end && !is_ascii_digit(text[s]) && text[s] != '+' && text[s] != '(') ++s;
        }
        if (end <= s || end - s < 7) return;
        if (s > 0 && letter(text[s - 1])) return;  // glued to a word: "v1.2.3", "ID1234567"
        if (s > 1 && text[s - 1] == '-' && is_ascii_alnum(text[s - 2])) return;  // a UUID's or a code's tail
        if (iban_tail(text, s)) return;
        if (covered(s, end)) return;  // a card, IBAN, SSN, IP ... already
        const std::string_view cluster = text.substr(s, end - s);
        const std::string d = digits_of(cluster);
        const bool plus = cluster.find('+') != std::string_view::npos;
        if (d.size() < 7) return;
        if (std::count(cluster.begin(), cluster.end(), '.') >= 3) return;  // IPs, OIDs, versions
        if (!plus) {
            if (d.size() > 14 || date_like(cluster)) return;
            // Cards come in groups of four from the left; no national number does.
            if (d.size() >= 13 && is_ascii_digit(cluster[3]) && !is_ascii_digit(cluster[4]) &&
                cluster.substr(0, 4).find_first_not_of("0123456789") == std::string_view::npos)
                return;
            if (nanp_only && !nanp_plausible(d)) return;
        }
        // libphonenumber costs ~100 us a call: skip clusters that could not reach min_score
        // even as valid numbers (an unformatted "order 4155552671" without a phone word).
        const bool separated = d.size() != cluster.size() - (plus ? 1 : 0);
        const bool context = window_has(lower_window(text, s, 40), kPhoneContext);
        const bool identifier =
            !plus && (any_in(previous_words(text, s, 2), kIdentifierContext) || (s > 0 && text[s - 1] == '#'));
        const double best = (plus ? 0.8 : separated ? 0.7 : 0.4) + (context ? 0.25 : 0) - (identifier ? 0.35 : 0);
        if (best < options.min_score) return;

        matches.clear();
        phone->find(text, s, end, matches);
        for (const auto& m : matches) {
            const std::string_view raw = text.substr(m.start, m.end - m.start);
            bool sep = false;
            for (char c : raw) sep |= !is_ascii_digit(c) && c != '+';
            double score = m.international ? 0.8 : sep ? 0.7 : 0.4;
            if (window_has(lower_window(text, m.start, 40), kPhoneContext)) score += 0.25;
            const auto prev = previous_words(text, m.start, 2);
            if (any_in(prev, kIdentifierContext) || (m.start > 0 && text[m.start - 1] == '#')) score -= 0.35;
            out.push_back(make(text, kPhone, m.international ? "e164" : "national", m.start, m.end, score));
        }
    };
    // Clusters, found by hand rather than by a second regex pass: maximal runs of digits and
    // separators that start with a digit, '+' or '(' and hold at least 7 digits; longer
    // than kMaxCluster bytes they are cut at spaces, like the Set's pattern, which stops there.
    constexpr size_t kMaxCluster = 42;
    const size_t n = text.size();
    for (size_t i = 0; i < n;) {
        i = next_digit(text, i);
        if (i == n) break;
        size_t b = i;
        if (b > 0 && (text[b - 1] == '+' || text[b - 1] == '(')) --b;
        if (b > 0 && text[b - 1] == '+') --b;  // "+(1)"
        size_t e = i;
        size_t digits = 0;
        while (e < n && cluster_byte(text[e])) digits += is_ascii_digit(text[e++]);
        i = e;
        if (digits < 7) continue;
        auto run = [&](size_t s, size_t end) {
            for (size_t cut = text.substr(s, end - s).find(". "); cut != std::string_view::npos;
                 cut = text.substr(s, end - s).find(". ")) {
                piece(s, s + cut);
                s += cut + 2;
            }
            piece(s, end);
        };
        while (e - b > kMaxCluster) {
            size_t cut = text.rfind(' ', b + kMaxCluster);
            if (cut == std::string_view::npos || cut <= b) cut = b + kMaxCluster;
            run(b, cut);
            b = cut + 1;
        }
        run(b, e);
    }
}

std::vector<Finding> Scanner::scan(std::string_view text) const {
    std::vector<Finding> out;
    if (text.empty()) return out;
    const Impl& im = *impl_;
    std::vector<int> hits;
    RE2::Set::ErrorInfo info{};
    const re2::StringPiece sp(text.data(), text.size());
    const bool any = im.set->Match(sp, &hits, &info);
    if (info.kind != RE2::Set::kNoError) {
        // The DFA ran out of memory on this text: run every pattern, slower but complete.
        hits.clear();
        for (size_t i = 0; i < im.entries.size(); ++i) hits.push_back(static_cast<int>(i));
    } else if (!any) {
        return out;
    }
    std::sort(hits.begin(), hits.end());
    bool clusters = false;
    for (int h : hits) {
        const Entry& e = im.entries[static_cast<size_t>(h)];
        if (e.rule == Rule::phone_cluster)
            clusters = true;
        else
            im.extract(e, text, out);
    }
    if (clusters && im.phone) im.find_phones(text, out);

    const double min_score = im.options.min_score;
    std::erase_if(out, [&](const Finding& f) { return f.score < min_score; });
    if (out.size() > 1) {
        // Overlaps: the higher score wins, then the longer span, then the earlier one.
        std::vector<size_t> order(out.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
            if (out[a].score != out[b].score) return out[a].score > out[b].score;
            const size_t la = out[a].end - out[a].start, lb = out[b].end - out[b].start;
            if (la != lb) return la > lb;
            return out[a].start < out[b].start;
        });
        // Kept spans never overlap, so ordered by start they are ordered by end too: a
        // candidate is checked against its two neighbours only (a log full of addresses
        // can have thousands of findings).
        std::map<size_t, size_t> taken;  // start -> end
        std::vector<Finding> kept;
        for (size_t i : order) {
            const Finding& f = out[i];
            auto next = taken.lower_bound(f.start);
            if (next != taken.end() && next->first < f.end) continue;
            if (next != taken.begin() && std::prev(next)->second > f.start) continue;
            taken.emplace(f.start, f.end);
            kept.push_back(std::move(out[i]));
        }
        out = std::move(kept);
    }
    std::sort(out.begin(), out.end(), [](const Finding& a, const Finding& b) { return a.start < b.start; });
    return out;
}

}  // namespace synthforge::privacy
