#pragma once
// Charts as inline SVG strings, drawn here rather than by a script, so the report renders the
// same in any browser, offline, with scripts disabled. Every bar is a <rect class="bar"> with
// its value in data-count and a <title> tooltip; every text is escaped.

#include "report/stats.h"

#include <string>
#include <string_view>
#include <vector>

namespace synthforge::report {

// Escapes text for HTML and SVG content and attribute values (& < > " '). Invalid UTF-8 and
// control characters other than tab and newline become U+FFFD, so the page stays well-formed.
std::string escape_html(std::string_view text);

// At most `max_chars` code points of `text`, cut on a code point boundary, with "…" appended
// when cut.
std::string truncate_utf8(std::string_view text, size_t max_chars);

// A number as people read it on an axis or in a table: integers without decimals, others with
// up to `digits` significant digits, no exponent below a billion.
std::string format_number(double v, int digits = 4);

struct Series {
    std::string name;            // legend entry (empty: no legend)
    std::vector<double> values;  // one per bin
};

struct HistogramChart {
    std::string id;       // the svg's data-chart attribute
    std::string title;    // accessible name (aria-label)
    std::string x_label;  // below the axis
    std::string y_label;  // beside the axis
    std::vector<Bin> bins;
    bool discrete = false;       // bins labelled by value rather than edges
    bool overflow = false;       // the last bin is the overflow bin (values above the one before)
    bool percent = false;        // values are shares in [0, 1], shown as percentages
    std::vector<Series> series;  // one, or several drawn side by side in each bin
};
std::string histogram_svg(const HistogramChart& chart);

struct Bar {
    std::string label;       // left of the bar (shortened when long; the full text is in the tooltip)
    double value = 0;        // bar length
    std::string value_text;  // right of the bar
};
struct BarChart {
    std::string id;
    std::string title;
    std::vector<Bar> bars;  // drawn top to bottom in this order
};
std::string bar_chart_svg(const BarChart& chart);

}  // namespace synthforge::report
