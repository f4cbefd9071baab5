// Per-operation costs behind the whole-command benchmarks (Google Benchmark), on synthetic but
// realistic inputs built here so the binary needs no files:
//
//   BM_MinHashDocument   shingle one ~1 KB document (word 5-shingles) and compute its 128-value
//                        signature: the per-document work of dedup_minhash before the LSH lookup
//   BM_MinHashIndex      query_or_add of one document into an index already holding 20,000
//   BM_PiiScan           privacy::Scanner::scan of one ~1.5 KB document, all entity types
//   BM_RougeLQuery       RougeLIndex::any_above for one instruction against 5,000 kept ones
//
//   micro_bench [--benchmark_format=json] [--benchmark_repetitions=N] ...
//
// bench/run_all.py runs it with repetitions and reports the medians; the items/s and bytes/s
// counters are per core (single-threaded).
#include "synthforge/privacy/pii.h"
#include "synthforge/text/minhash.h"
#include "synthforge/text/rouge.h"

#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace synthforge;

// Words from a fixed vocabulary, Zipf-like (index = floor(n^u) for uniform u), so common words
// recur as in English text.
std::vector<std::string> vocabulary() {
    std::vector<std::string> words;
    std::mt19937_64 rng(7);
    const std::string consonants = "bcdfghklmnprstvwz", vowels = "aeiou";
    for (int i = 0; i < 20000; ++i) {
        std::string w;
        for (int s = 0, n = 1 + static_cast<int>(rng() % 3); s < n; ++s) {
            w += consonants[rng() % consonants.size()];
            w += vowels[rng() % vowels.size()];
        }
        words.push_back(w);
    }
    return words;
}

std::string document(std::mt19937_64& rng, size_t bytes) {
    static const std::vector<std::string> words = vocabulary();
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::string out;
    while (out.size() < bytes) {
        const size_t i = static_cast<size_t>(std::pow(static_cast<double>(words.size()), u(rng))) - 1;
        out += words[i % words.size()];
        out += rng() % 12 == 0 ? ". " : " ";
    }
    return out;
}

void BM_MinHashDocument(benchmark::State& state) {
    std::mt19937_64 rng(1);
    std::vector<std::string> docs;
    for (int i = 0; i < 256; ++i) docs.push_back(document(rng, 1000));
    const text::MinHasher hasher(128, 1);
    std::vector<uint32_t> sig(128);
    size_t i = 0, bytes = 0;
    for (auto _ : state) {
        const std::string& d = docs[i++ % docs.size()];
        const auto sh = text::shingle_hashes(d, text::ShingleKind::word, 5);
        hasher.signature(sh, sig.data());
        benchmark::DoNotOptimize(sig.data());
        bytes += d.size();
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_MinHashDocument);

void BM_MinHashIndex(benchmark::State& state) {
    std::mt19937_64 rng(2);
    const text::MinHasher hasher(128, 1);
    text::MinHashIndex index(hasher, text::optimal_lsh_params(0.8, 128, 0.1, 0.9), 0.8);
    for (int i = 0; i < 20000; ++i) index.add(text::shingle_hashes(document(rng, 1000), text::ShingleKind::word, 5));
    std::vector<std::vector<uint32_t>> queries;
    for (int i = 0; i < 256; ++i)
        queries.push_back(text::shingle_hashes(document(rng, 1000), text::ShingleKind::word, 5));
    size_t i = 0;
    for (auto _ : state) benchmark::DoNotOptimize(index.query(queries[i++ % queries.size()]));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_MinHashIndex);

void BM_PiiScan(benchmark::State& state) {
    std::mt19937_64 rng(3);
    std::vector<std::string> docs;
    for (int i = 0; i < 64; ++i) {
        std::string d = document(rng, 1500);
        // A few look-alikes and one real finding in some documents, as in tests/pii/make_corpus.py.
        d += " Released 2024-03-15 as v2.3.1 for $19.99.";
        if (i % 16 == 0) d += " Contact jane.doe@example.com or 4111 1111 1111 1111.";
        docs.push_back(std::move(d));
    }
    const privacy::Scanner scanner(privacy::ScannerOptions{});
    size_t i = 0, bytes = 0;
    for (auto _ : state) {
        const std::string& d = docs[i++ % docs.size()];
        benchmark::DoNotOptimize(scanner.scan(d));
        bytes += d.size();
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_PiiScan);

void BM_RougeLQuery(benchmark::State& state) {
    std::mt19937_64 rng(4);
    text::TokenVocab vocab;
    text::RougeLIndex index;
    auto instruction = [&] { return document(rng, 40 + rng() % 120); };
    for (int i = 0; i < 5000; ++i) index.add(vocab.encode(instruction()));
    std::vector<std::vector<uint32_t>> queries;
    for (int i = 0; i < 256; ++i) queries.push_back(vocab.encode(instruction()));
    size_t i = 0;
    for (auto _ : state) benchmark::DoNotOptimize(index.any_above(queries[i++ % queries.size()], 0.7));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_RougeLQuery);

}  // namespace

BENCHMARK_MAIN();
