#pragma once
// Everything the report shows, gathered from the input file, the optional reference file and
// the optional run directory. The HTML and the JSON are both drawn from this one structure.
//
// The input is streamed: per row only word and character counts of string columns, numeric
// values and (for diversity) the texts of the main field are kept, never whole records,
// except the few sample rows.

#include "report/report.h"
#include "report/stats.h"
#include "synthforge/data/record.h"
#include "synthforge/text/diversity.h"
#include "synthforge/text/similarity.h"

#include <optional>
#include <string>
#include <vector>

namespace synthforge::report {

// A problem worth a look, listed in the summary.
struct Flag {
    std::string section;  // "input", "diversity", "reference", "run"
    std::string metric;   // what it is about, e.g. "distinct_2"
    std::string message;
};

struct Distribution {
    std::vector<double> values;  // sorted
    Summary stats;
    Binning binning;
    std::vector<Bin> bins;
};

struct TextField {
    std::string name;
    bool main = false;
    uint64_t missing = 0;  // rows where the column is absent or not a string
    Distribution words;    // whitespace-separated words per row
    Distribution chars;    // Unicode code points per row
};

// A string column left out of the lengths section: its mean is under 3 words.
struct ShortColumn {
    std::string name;
    double mean_words = 0;
};

struct NumericColumn {
    std::string name;      // "score", or "judge.scores.helpfulness" for a value inside an object column
    uint64_t missing = 0;  // rows without a number there
    Distribution values;
};

struct DiversitySection {
    std::string field;
    text::DiversityMetrics metrics;
    uint64_t duplicate_texts = 0;  // texts equal to an earlier row's text (byte for byte)
};

struct ReferenceInfo {
    std::filesystem::path path;
    std::string format;
    uint64_t rows = 0;
    uint64_t bad_records = 0;
    std::string field;
    bool field_is_fallback = false;  // the main field's name was not in the reference
    uint64_t texts = 0;
};

struct SimilaritySection {
    std::string synthetic_field, reference_field;
    text::SimilarityMetrics metrics;
    Binning binning;  // over both sets' word counts
    std::vector<Bin> synthetic_bins, reference_bins;
    Summary synthetic_words, reference_words;
};

// What a `leakage` block wrote in a column (its {rougel, common_run, jaccard} object), seen as
// the distance from each row to its closest private or seed record.
struct LeakageSection {
    std::string column;        // "leakage"
    Distribution distance;     // 1 - ROUGE-L F1 with the closest record: 0 = a copy
    Distribution common_run;   // longest token run shared with any record
    uint64_t near_copies = 0;  // rows at distance <= kNearCopyDistance
    uint64_t long_runs = 0;    // rows sharing a run of kLongRunTokens or more
};
inline constexpr double kNearCopyDistance = 0.2;
inline constexpr double kLongRunTokens = 20;

struct BlockCounts {
    std::string name, type;
    uint64_t rows_in = 0, rows_out = 0, rows_rejected = 0;
};

// Rejected rows of one block sharing a reason once numbers and quoted values are masked.
struct ReasonGroup {
    std::string block;
    std::string reason;   // masked: "judge score N < N (helpfulness N/N, ...)"
    std::string example;  // one reason verbatim
    uint64_t count = 0;
};

// The reasons of a block beyond the listed ones.
struct OtherReasons {
    std::string block;
    uint64_t reasons = 0;
    uint64_t rows = 0;
};

struct RunSection {
    std::filesystem::path dir;
    std::string flow;
    std::string status;
    bool has_counts = false;  // metadata.json of a finished run holds the counts
    uint64_t rows_in = 0, rows_out = 0, rows_rejected = 0, input_rows_rejected = 0;
    std::vector<BlockCounts> blocks;
    bool rejects_found = false;
    uint64_t rejects_read = 0;
    std::vector<std::pair<std::string, uint64_t>> rejected_by;  // block -> rows in the rejects file
    std::vector<ReasonGroup> reasons;                           // block by block, most frequent first
    std::vector<OtherReasons> other;
};

struct SampleRow {
    uint64_t row = 0;  // 1-based position in the input
    Json record;       // long strings and lists already cut for display
};

struct ReportData {
    ReportOptions options;
    std::string input_format;
    uint64_t rows = 0;
    uint64_t bad_records = 0;
    std::vector<std::string> columns;  // top-level columns in order of first appearance
    std::vector<TextField> text_fields;
    bool fields_given = false;  // --field, rather than the mean-length rule
    std::vector<ShortColumn> short_columns;
    std::vector<NumericColumn> numeric;
    std::vector<LeakageSection> leakage;
    std::optional<DiversitySection> diversity;
    std::optional<ReferenceInfo> reference;
    std::optional<SimilaritySection> similarity;
    std::string similarity_note;  // why there is a reference but no similarity section
    std::optional<RunSection> run;
    std::vector<SampleRow> samples;
    std::vector<Flag> flags;

    const TextField* main_field() const;
};

ReportData collect_report(const ReportOptions& options);

// Reasons grouped: runs of digits (with a decimal point) become N and double-quoted values
// become "…", so "score 0.42 < 0.6" and "score 0.31 < 0.6" are one reason.
std::string mask_reason(std::string_view reason);

// A copy of `value` for display: strings longer than `max_chars` code points are cut with a
// marker saying how much was left out; so are lists longer than 50 items.
Json shorten_for_display(const Json& value, size_t max_chars);

}  // namespace synthforge::report
