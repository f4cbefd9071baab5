// MinHash dedup driver for bench/minhash_bench.sh: reads one document per line, runs
// synthforge's shingling, signatures, LSH and Jaccard verification on one thread, and
// prints one decision per line ("keep", or "dup LINE JACCARD" naming the kept line).
// Timing goes to stderr: whole loop, and the shingling part of it.
//
//   minhash_bench_driver FILE [THRESHOLD=0.8] [NUM_PERM=128] [NGRAM=5] [FP_WEIGHT=0.1] [FN_WEIGHT=0.9]
#include "synthforge/text/minhash.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    using namespace synthforge::text;
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s FILE [THRESHOLD] [NUM_PERM] [NGRAM] [FP_WEIGHT] [FN_WEIGHT]\n", argv[0]);
        return 2;
    }
    const double threshold = argc > 2 ? std::atof(argv[2]) : 0.8;
    const size_t num_perm = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 128;
    const size_t ngram = argc > 4 ? std::strtoul(argv[4], nullptr, 10) : 5;
    const double fp = argc > 5 ? std::atof(argv[5]) : 0.1;
    const double fn = argc > 6 ? std::atof(argv[6]) : 0.9;

    std::ifstream in(argv[1]);
    std::vector<std::string> docs;
    for (std::string line; std::getline(in, line);) docs.push_back(std::move(line));
    size_t bytes = 0;
    for (const auto& d : docs) bytes += d.size();

    const LshParams lsh = optimal_lsh_params(threshold, num_perm, fp, fn);
    const MinHasher hasher(num_perm, 1);
    MinHashIndex index(hasher, lsh, threshold);
    std::vector<size_t> kept_line;  // index item -> 1-based line
    std::string out;
    out.reserve(docs.size() * 8);
    double shingle_s = 0;
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    for (size_t i = 0; i < docs.size(); ++i) {
        const auto s0 = clock::now();
        const std::vector<uint32_t> sh = shingle_hashes(docs[i], ShingleKind::word, ngram);
        shingle_s += std::chrono::duration<double>(clock::now() - s0).count();
        const MinHashIndex::Match m = index.query_or_add(sh);
        if (m.item == MinHashIndex::npos) {
            kept_line.push_back(i + 1);
            out += "keep\n";
        } else {
            char buf[64];
            std::snprintf(buf, sizeof buf, "dup %zu %.6f\n", kept_line[m.item], m.jaccard);
            out += buf;
        }
    }
    const double secs = std::chrono::duration<double>(clock::now() - t0).count();
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fprintf(stderr,
                 "%zu docs (%.0f bytes each), %zu kept; bands %zu x rows %zu; %.3f s (%.0f docs/s), of which "
                 "shingling %.3f s; %llu candidates verified\n",
                 docs.size(), docs.empty() ? 0.0 : static_cast<double>(bytes) / docs.size(), index.size(), lsh.bands,
                 lsh.rows, secs, docs.size() / secs, shingle_s,
                 static_cast<unsigned long long>(index.stats().candidates));
    return 0;
}
