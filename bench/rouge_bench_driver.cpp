// Driver for bench/rouge_bench.sh.
//
//   rouge_bench_driver gen N SEED FILE      writes N synthetic instructions, one per line
//   rouge_bench_driver filter FILE T        Self-Instruct novelty filter: keep/drop per line on
//                                           stdout, "<n> texts <kept> kept <seconds> s" on stderr
//
// The generated instructions look like Self-Instruct's: an imperative opener, 5-30 words drawn
// Zipf-style from a few thousand (so stop words are shared by most pairs, which is what makes
// pruning hard), and ~10% near-duplicates of earlier lines with small edits.
#include "synthforge/text/rouge.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace {

using synthforge::text::RougeLIndex;
using synthforge::text::TokenVocab;

std::vector<std::string> make_vocabulary(std::mt19937_64& rng) {
    std::vector<std::string> words = {"the", "a",   "of",   "to",   "and", "in", "for", "is", "that", "with",
                                      "on",  "how", "what", "your", "an",  "be", "as",  "it", "this", "from"};
    const std::string consonants = "bcdfghklmnprstvwz", vowels = "aeiou";
    while (words.size() < 4000) {
        std::string w;
        const int syllables = 1 + static_cast<int>(rng() % 3);
        for (int s = 0; s < syllables; ++s) {
            w += consonants[rng() % consonants.size()];
            w += vowels[rng() % vowels.size()];
            if (rng() % 2) w += consonants[rng() % consonants.size()];
        }
        words.push_back(w);
    }
    return words;
}

int generate(size_t n, uint64_t seed, const std::string& path) {
    std::mt19937_64 rng(seed);
    const auto vocab = make_vocabulary(rng);
    const char* openers[] = {"Write",  "Explain", "List",     "Describe", "Summarize", "Give",
                             "Create", "Suggest", "Classify", "Generate", "Translate", "Compare"};
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    // Zipf-like rank: word i is drawn with probability ~ 1 / (i + 1).
    auto word = [&]() -> const std::string& {
        const double u = unit(rng);
        const auto rank = static_cast<size_t>(std::exp(u * std::log(static_cast<double>(vocab.size())))) - 1;
        return vocab[std::min(rank, vocab.size() - 1)];
    };
    std::vector<std::string> lines;
    lines.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        std::string t;
        if (!lines.empty() && rng() % 10 == 0) {
            // Near-duplicate: an earlier line with one or two words changed and maybe punctuation.
            std::vector<std::string> ws;
            const std::string& src = lines[rng() % lines.size()];
            for (size_t p = 0; p < src.size();) {
                const size_t q = src.find(' ', p);
                ws.push_back(src.substr(p, q == std::string::npos ? std::string::npos : q - p));
                p = q == std::string::npos ? src.size() : q + 1;
            }
            const int edits = 1 + static_cast<int>(rng() % 2);
            for (int e = 0; e < edits; ++e) {
                const size_t at = rng() % ws.size();
                if (rng() % 2)
                    ws[at] = word();
                else
                    ws.insert(ws.begin() + static_cast<long>(at), word());
            }
            for (size_t w = 0; w < ws.size(); ++w) t += (w ? " " : "") + ws[w];
            if (rng() % 3 == 0) t += "!";
        } else {
            t = openers[rng() % (sizeof(openers) / sizeof(openers[0]))];
            const size_t len = 4 + rng() % 26;  // 5-30 words with the opener
            for (size_t w = 0; w < len; ++w) t += " " + word();
            t += rng() % 4 == 0 ? "?" : ".";
        }
        lines.push_back(std::move(t));
    }
    std::ofstream out(path);
    for (const auto& l : lines) out << l << '\n';
    return out ? 0 : 1;
}

int filter(const std::string& path, double threshold) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(std::move(l));

    const auto start = std::chrono::steady_clock::now();
    TokenVocab vocab;
    RougeLIndex index;
    std::vector<char> keep(lines.size());
    size_t kept = 0, lcs = 0, postings = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
        auto tokens = vocab.encode(lines[i]);
        const bool drop = index.any_above(tokens, threshold);
        lcs += index.last_stats().lcs_computed;
        postings += index.last_stats().postings_scanned;
        if (!drop) {
            index.add(std::move(tokens));
            ++kept;
        }
        keep[i] = !drop;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string out;
    for (char k : keep) out += k ? "keep\n" : "drop\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fprintf(stderr, "%zu texts %zu kept %.6f s (%zu LCS computed, %zu postings scanned)\n", lines.size(), kept,
                 secs, lcs, postings);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "gen" && argc == 5) return generate(std::stoul(argv[2]), std::stoull(argv[3]), argv[4]);
    if (cmd == "filter" && argc == 4) return filter(argv[2], std::stod(argv[3]));
    std::cerr << "usage: rouge_bench_driver gen N SEED FILE | filter FILE THRESHOLD\n";
    return 2;
}
