// PII scan driver for bench/pii_bench.sh: reads one document per line (JSON-escaped text is
// not decoded: the corpus is plain text), scans each with synthforge's privacy::Scanner on
// one thread, and reports bytes/s and findings per type. With --print, one line per finding
// ("LINE<TAB>TYPE<TAB>START<TAB>END<TAB>TEXT") goes to stdout for comparisons. It also times one
// RE2 pass of a single pattern without a literal prefix over the same documents: the floor any
// RE2-based scan pays per byte on this machine, so shared or throttled machines can be compared.
//
//   pii_bench_driver FILE [--print] [--regions US,GB] [--entities EMAIL,PHONE] [--repeat N]
#include "synthforge/privacy/pii.h"

#include <re2/re2.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace {

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    size_t b = 0;
    while (b <= s.size()) {
        size_t e = s.find(',', b);
        if (e == std::string::npos) e = s.size();
        if (e > b) out.push_back(s.substr(b, e - b));
        b = e + 1;
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace synthforge::privacy;
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s FILE [--print] [--regions R,..] [--entities T,..] [--repeat N]\n", argv[0]);
        return 2;
    }
    bool print = false;
    int repeat = 1;
    ScannerOptions options;
    for (int i = 2; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--print")) {
            print = true;
        } else if (!std::strcmp(argv[i], "--regions") && i + 1 < argc) {
            options.phone_regions = split(argv[++i]);
        } else if (!std::strcmp(argv[i], "--entities") && i + 1 < argc) {
            options.entities = split(argv[++i]);
        } else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) {
            repeat = std::atoi(argv[++i]);
        }
    }
    std::ifstream in(argv[1]);
    std::vector<std::string> docs;
    size_t bytes = 0;
    for (std::string line; std::getline(in, line);) {
        bytes += line.size();
        docs.push_back(std::move(line));
    }
    const Scanner scanner(options);
    std::map<std::string, size_t> counts;
    size_t with_findings = 0;
    std::string out;
    using clock = std::chrono::steady_clock;
    double best = 1e300;
    for (int r = 0; r < repeat; ++r) {
        counts.clear();
        with_findings = 0;
        out.clear();
        const auto t0 = clock::now();
        for (size_t i = 0; i < docs.size(); ++i) {
            const std::vector<Finding> found = scanner.scan(docs[i]);
            with_findings += !found.empty();
            for (const auto& f : found) {
                ++counts[f.type];
                if (print && r == 0)
                    out += std::to_string(i + 1) + "\t" + f.type + "\t" + std::to_string(f.start) + "\t" +
                           std::to_string(f.end) + "\t" + f.text + "\n";
            }
        }
        best = std::min(best, std::chrono::duration<double>(clock::now() - t0).count());
        if (print && r == 0) std::fwrite(out.data(), 1, out.size(), stdout);
    }
    const RE2 floor_re("[0-9]{3}-[0-9]{4}-[0-9]{5}x");  // never matches; no prefix for memchr to skip to
    double floor = 1e300;
    size_t floor_hits = 0;
    for (int r = 0; r < repeat; ++r) {
        const auto t0 = clock::now();
        for (const auto& d : docs) floor_hits += RE2::PartialMatch(d, floor_re);
        floor = std::min(floor, std::chrono::duration<double>(clock::now() - t0).count());
    }
    std::fprintf(stderr, "re2 floor (one pattern, one pass): %.1f MB/s%s\n", bytes / 1e6 / floor,
                 floor_hits ? " (matched?)" : "");
    std::fprintf(stderr, "c++ scanner: %zu documents, %.1f MB in %.3f s = %.1f MB/s; %zu with findings;", docs.size(),
                 bytes / 1e6, best, bytes / 1e6 / best, with_findings);
    for (const auto& [type, n] : counts) std::fprintf(stderr, " %s %zu", type.c_str(), n);
    std::fprintf(stderr, "\n");
    return 0;
}
