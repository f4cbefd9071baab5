#pragma once
// `synthforge report`: one self-contained HTML quality report of a dataset (lengths, scores,
// diversity, similarity to a reference, rejections of the run that made it, sample rows) and
// the same numbers as JSON. See docs/report.md.
//
// The CLI includes this header by path (it is not part of the public include tree), so it
// includes nothing from src/.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace synthforge::report {

struct ReportOptions {
    std::filesystem::path input;
    std::string input_format;         // "" = from the extension
    std::filesystem::path reference;  // "" = no similarity section
    std::string reference_format;
    std::string reference_field;      // "" = the main field's name, else the reference's own main field
    std::vector<std::string> fields;  // text columns; empty = every string column averaging >= 3 words
    std::filesystem::path run_dir;    // "" = no rejections section
    size_t samples = 10;
    uint64_t seed = 0;
    size_t max_bins = 24;
    size_t diversity_sample = 500;  // texts in the quadratic metrics (self-BLEU, pairwise ROUGE-L)
    size_t max_reasons = 20;        // rejection reasons listed per block
    size_t sample_chars = 400;      // longer strings in sample rows are cut
};

struct ReportOutcome {
    uint64_t rows = 0;
    std::vector<std::string> flags;  // "section: message", in report order
};

// Reads the input (streaming) and the optional reference and run directory, then writes the
// HTML report to `html` and the metrics to `json` (either may be empty: not written). Files are
// written atomically. Throws UserError for unreadable inputs or a missing field or run directory.
ReportOutcome write_report(const ReportOptions& options, const std::filesystem::path& html,
                           const std::filesystem::path& json);

}  // namespace synthforge::report
