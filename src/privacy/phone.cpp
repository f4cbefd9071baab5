// Phone numbers through libphonenumber: PhoneNumberMatcher with leniency VALID, run on a
// small window around each digit cluster the scanner's regex pass found, never on the
// whole text. libphonenumber's C++ matcher costs 50-100 us per call whatever the input
// size (it runs ICU regexes), so the cluster prefilter and a cache of recent windows are
// what keep the scan fast.
#include "privacy/pii_internal.h"

#include <phonenumbers/phonenumbermatch.h>
#include <phonenumbers/phonenumbermatcher.h>
#include <phonenumbers/phonenumberutil.h>

#include <mutex>
#include <set>
#include <stdexcept>
#include <unordered_map>

namespace synthforge::privacy::detail {

namespace pn = i18n::phonenumbers;

namespace {

const pn::PhoneNumberUtil& util() {
    return *pn::PhoneNumberUtil::GetInstance();
}

// Bytes of context the matcher sees on each side of a cluster: enough for it to notice a
// letter glued to the number ("ID4155552671") or a "+" just outside the regex match.
constexpr size_t kContext = 8;
constexpr size_t kCacheEntries = 8192;

bool valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > s.size()) return false;
        for (size_t k = 1; k < len; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        i += len;
    }
    return true;
}

bool continuation(char c) {
    return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// 555-0100 through 555-0199 in every NANP area code are reserved for fiction (and are
// what surrogates use), so they are nobody's number.
bool fictional_nanp(const pn::PhoneNumber& n) {
    if (n.country_code() != 1) return false;
    const uint64_t national = n.national_number();
    return (national / 10000) % 1000 == 555 && national % 10000 >= 100 && national % 10000 <= 199;
}

}  // namespace

struct PhoneFinder::Cache {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<Match>> windows;  // offsets relative to the window
};

PhoneFinder::PhoneFinder(std::vector<std::string> regions) : regions_(std::move(regions)), cache_(new Cache) {
    std::set<std::string> known;
    util().GetSupportedRegions(&known);
    for (auto& r : regions_) {
        for (char& c : r) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
        if (!known.contains(r)) throw std::invalid_argument("unknown phone region '" + r + "'");
    }
    // Numbers in +E.164 form are recognised with any region: with none configured,
    // libphonenumber's "unknown region" still finds those.
    if (regions_.empty()) regions_.push_back("ZZ");
}

PhoneFinder::~PhoneFinder() = default;

void PhoneFinder::match_window(const std::string& window, std::vector<Match>& out) const {
    {
        std::lock_guard lock(cache_->mutex);
        if (auto it = cache_->windows.find(window); it != cache_->windows.end()) {
            out = it->second;
            return;
        }
    }
    out.clear();
    for (const auto& region : regions_) {
        pn::PhoneNumberMatcher matcher(util(), window, region, pn::PhoneNumberMatcher::VALID, 64);
        pn::PhoneNumberMatch m;
        while (matcher.HasNext() && matcher.Next(&m)) {
            if (fictional_nanp(m.number())) continue;
            Match found;
            found.start = static_cast<size_t>(m.start());  // a byte offset: the C++ matcher works on UTF-8
            found.end = found.start + static_cast<size_t>(m.length());
            const auto& raw = m.raw_string();
            found.international = !raw.empty() && (raw[0] == '+' || raw.starts_with("00") || raw.starts_with("011"));
            found.country_code = m.number().country_code();
            bool seen = false;
            for (const auto& o : out) seen |= o.start < found.end && found.start < o.end;
            if (!seen) out.push_back(found);
        }
    }
    std::lock_guard lock(cache_->mutex);
    if (cache_->windows.size() >= kCacheEntries) cache_->windows.clear();
    cache_->windows.emplace(window, out);
}

void PhoneFinder::find(std::string_view text, size_t begin, size_t end, std::vector<Match>& out) const {
    size_t wb = begin >= kContext ? begin - kContext : 0;
    size_t we = std::min(text.size(), end + kContext);
    while (wb < begin && continuation(text[wb])) ++wb;
    while (we > end && we < text.size() && continuation(text[we])) --we;
    std::string window(text.substr(wb, we - wb));
    if (!valid_utf8(window)) {  // the matcher gives up on invalid UTF-8: look at the cluster alone
        wb = begin;
        window.assign(text.substr(begin, end - begin));
    }
    std::vector<Match> found;
    match_window(window, found);
    for (auto m : found) {
        m.start += wb;
        m.end += wb;
        if (m.start < end && begin < m.end) out.push_back(m);  // numbers of this cluster only
    }
}

bool PhoneFinder::contains_valid(std::string_view text) const {
    std::vector<Match> found;
    match_window(std::string(text), found);
    return !found.empty();
}

int PhoneFinder::country_code(std::string_view number) const {
    pn::PhoneNumber n;
    if (util().Parse(std::string(number), regions_.front(), &n) != pn::PhoneNumberUtil::NO_PARSING_ERROR) return 0;
    return n.country_code();
}

}  // namespace synthforge::privacy::detail
