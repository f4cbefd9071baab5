// Histograms and horizontal bar charts as inline SVG. Sizes are in SVG user units; the page's
// CSS scales the whole chart down on narrow screens (viewBox), never its proportions.
#include "report/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace synthforge::report {

namespace {

// Series colours: colour-blind-safe (Tableau 10), the first two far apart for overlays.
constexpr const char* kColors[] = {"#4C78A8", "#F58518", "#54A24B", "#B279A2", "#E45756", "#72B7B2"};
constexpr const char* kTextColor = "#4b5563";
constexpr const char* kGridColor = "#e5e7eb";
constexpr const char* kAxisColor = "#9ca3af";

const char* color(size_t i) {
    return kColors[i % (sizeof kColors / sizeof kColors[0])];
}

// Length of the UTF-8 sequence starting at s[i] when it is valid, else 0.
size_t valid_sequence(std::string_view s, size_t i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    if (c < 0x80) return 1;
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (len == 0 || c > 0xF4 || i + len > s.size()) return 0;
    for (size_t k = 1; k < len; ++k)
        if ((b(i + k) & 0xC0) != 0x80) return 0;
    // Overlong forms, UTF-16 surrogates and code points above U+10FFFF.
    if (c == 0xE0 && b(i + 1) < 0xA0) return 0;
    if (c == 0xED && b(i + 1) >= 0xA0) return 0;
    if (c == 0xF0 && b(i + 1) < 0x90) return 0;
    if (c == 0xF4 && b(i + 1) >= 0x90) return 0;
    return len;
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

std::string fmt_value(double v, bool percent) {
    return percent ? format_number(v * 100, 3) + "%" : format_number(v);
}

struct Ticks {
    double step = 1, top = 1;
};

Ticks y_ticks(double max_value, bool percent) {
    Ticks t;
    t.step = nice_ceil(max_value > 0 ? max_value / 4 : (percent ? 0.25 : 1), !percent);
    t.top = std::max(t.step, std::ceil(max_value / t.step - 1e-9) * t.step);
    return t;
}

}  // namespace

std::string escape_html(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 8);
    for (size_t i = 0; i < text.size();) {
        size_t len = valid_sequence(text, i);
        if (len == 0) {
            out += kReplacement;
            ++i;
            continue;
        }
        if (len > 1) {
            out.append(text.substr(i, len));
            i += len;
            continue;
        }
        char c = text[i++];
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            case '\t':
            case '\n':
                out += c;
                break;
            case '\r':
                break;  // CRLF text: the \n alone ends the line
            default:
                if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
                    out += kReplacement;
                else
                    out += c;
        }
    }
    return out;
}

std::string truncate_utf8(std::string_view text, size_t max_chars) {
    size_t chars = 0, i = 0;
    while (i < text.size()) {
        if (chars == max_chars) return std::string(text.substr(0, i)) + "…";
        size_t len = valid_sequence(text, i);
        i += len ? len : 1;
        ++chars;
    }
    return std::string(text);
}

std::string format_number(double v, int digits) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "∞" : "-∞";
    if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{:.0f}", v == 0 ? 0.0 : v);
    double a = std::fabs(v);
    if (a >= 1e9 || a < 1e-4) return fmt::format("{:.{}g}", v, digits);
    // Fixed notation with `digits` significant digits, trailing zeros dropped.
    int decimals = std::max(0, digits - 1 - static_cast<int>(std::floor(std::log10(a))));
    std::string s = fmt::format("{:.{}f}", v, decimals);
    if (s.find('.') != std::string::npos) {
        while (s.back() == '0') s.pop_back();
        if (s.back() == '.') s.pop_back();
    }
    return s == "-0" ? "0" : s;
}

std::string histogram_svg(const HistogramChart& c) {
    constexpr double W = 520, H = 250, left = 56, right = 14, top = 30, bottom = 44;
    const double pw = W - left - right, ph = H - top - bottom;
    const size_t n = c.bins.size();
    const size_t regular = c.overflow && n > 0 ? n - 1 : n;

    double max_value = 0;
    for (const auto& s : c.series)
        for (double v : s.values) max_value = std::max(max_value, v);
    Ticks ticks = y_ticks(max_value, c.percent);

    std::string o = fmt::format(
        "<svg class=\"chart\" data-chart=\"{}\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {} {}\" width=\"{}\" "
        "height=\"{}\" font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif\" font-size=\"11\">\n",
        escape_html(c.id), escape_html(c.title), W, H, W, H);

    // Grid lines and y tick labels.
    const int tick_count = static_cast<int>(std::lround(ticks.top / ticks.step));
    for (int k = 0; k <= tick_count; ++k) {
        const double t = k * ticks.step;  // not a running sum: 0.1 + 0.1 + 0.1 is not 0.3
        double y = top + ph - t / ticks.top * ph;
        o += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\"/>", left, W - right, y, y,
                         t == 0 ? kAxisColor : kGridColor);
        o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\" fill=\"{}\">{}</text>\n", left - 6, y + 4,
                         kTextColor, escape_html(fmt_value(t, c.percent)));
    }

    // Bars: each bin's slot is split between the series.
    const double slot = n ? pw / static_cast<double>(n) : pw;
    const double gap = std::min(2.0, slot * 0.12);
    const double sub = (slot - 2 * gap) / static_cast<double>(std::max<size_t>(c.series.size(), 1));
    for (size_t i = 0; i < n; ++i) {
        const Bin& b = c.bins[i];
        const bool over = c.overflow && i + 1 == n;
        std::string range = over ? fmt::format("above {} (up to {})", format_number(b.from), format_number(b.to))
                            : c.discrete ? format_number(b.from)
                                         : fmt::format("{} – {}", format_number(b.from), format_number(b.to));
        for (size_t s = 0; s < c.series.size(); ++s) {
            double v = i < c.series[s].values.size() ? c.series[s].values[i] : 0;
            double h = v / ticks.top * ph;
            if (v > 0) h = std::max(h, 1.0);  // a rare value still shows
            double x = left + static_cast<double>(i) * slot + gap + static_cast<double>(s) * sub;
            std::string who = c.series[s].name.empty() ? "" : c.series[s].name + ", ";
            std::string what =
                c.percent ? fmt_value(v, true) + " of rows" : format_number(v) + (v == 1 ? " row" : " rows");
            o += fmt::format(
                "<rect class=\"bar\" data-value=\"{}\" x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" "
                "fill=\"{}\"{}><title>{}</title></rect>\n",
                v, x, top + ph - h, std::max(sub, 0.5), h, color(s), over ? " fill-opacity=\"0.5\"" : "",
                escape_html(who + range + ": " + what));
        }
    }

    // X labels: values under discrete bins, edges between continuous ones; at most ~10 of them.
    auto x_label = [&](double x, const std::string& text) {
        o += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\" fill=\"{}\">{}</text>", x, top + ph + 15,
                         kTextColor, escape_html(text));
    };
    if (c.discrete) {
        size_t every = std::max<size_t>(1, (regular + 9) / 10);
        for (size_t i = 0; i < regular; i += every)
            x_label(left + (static_cast<double>(i) + 0.5) * slot, format_number(c.bins[i].from));
    } else if (regular > 0) {
        size_t every = std::max<size_t>(1, (regular + 1 + 7) / 8);
        // With an overflow bin, its "more" label takes the place of the last edge's.
        size_t last_edge = c.overflow ? regular - 1 : regular;
        for (size_t i = 0; i <= last_edge; i += every)
            x_label(left + static_cast<double>(i) * slot,
                    format_number(i < regular ? c.bins[i].from : c.bins[regular - 1].to, 6));
    }
    if (c.overflow && n > 0) x_label(left + (static_cast<double>(n) - 0.5) * slot, "more");
    o += "\n";
    o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{}\">{}</text>\n", left + pw / 2, H - 8,
                     kTextColor, escape_html(c.x_label));
    o += fmt::format(
        "<text x=\"14\" y=\"{}\" text-anchor=\"middle\" fill=\"{}\" transform=\"rotate(-90 14 {})\">{}</text>\n",
        top + ph / 2, kTextColor, top + ph / 2, escape_html(c.y_label));

    // Legend, top right, when the series are named.
    if (c.series.size() > 1) {
        double x = W - right;
        for (size_t s = c.series.size(); s-- > 0;) {
            std::string name = escape_html(c.series[s].name);
            x -= 7.0 * static_cast<double>(c.series[s].name.size()) + 28;
            o += fmt::format(
                "<rect x=\"{:.1f}\" y=\"8\" width=\"11\" height=\"11\" fill=\"{}\"/><text x=\"{:.1f}\" y=\"18\" "
                "fill=\"{}\">{}</text>\n",
                x, color(s), x + 15, kTextColor, name);
        }
    }
    o += "</svg>";
    return o;
}

std::string bar_chart_svg(const BarChart& c) {
    constexpr double W = 520, label_w = 190, value_w = 90, row_h = 22, pad = 6;
    const double bar_w = W - label_w - value_w;
    const double H = pad * 2 + row_h * static_cast<double>(c.bars.size());
    double max_value = 0;
    for (const auto& b : c.bars) max_value = std::max(max_value, b.value);

    std::string o = fmt::format(
        "<svg class=\"chart\" data-chart=\"{}\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {} {}\" width=\"{}\" "
        "height=\"{}\" font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif\" font-size=\"12\">\n",
        escape_html(c.id), escape_html(c.title), W, H, W, H);
    o += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"{}\"/>\n", label_w, label_w, pad, H - pad,
                     kAxisColor);
    for (size_t i = 0; i < c.bars.size(); ++i) {
        const Bar& b = c.bars[i];
        double y = pad + row_h * static_cast<double>(i);
        double w = max_value > 0 ? b.value / max_value * (bar_w - 4) : 0;
        if (b.value > 0) w = std::max(w, 1.0);
        std::string full = escape_html(b.label);
        o += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\" fill=\"#1f2937\"><title>{}</title>{}</text>",
                         label_w - 8, y + 15, full, escape_html(truncate_utf8(b.label, 30)));
        o += fmt::format(
            "<rect class=\"bar\" data-value=\"{}\" x=\"{}\" y=\"{:.1f}\" width=\"{:.2f}\" height=\"14\" rx=\"2\" "
            "fill=\"{}\"><title>{}: {}</title></rect>",
            b.value, label_w + 1, y + 4, w, color(0), full, escape_html(b.value_text));
        o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"{}\">{}</text>\n", label_w + 1 + w + 6, y + 15,
                         kTextColor, escape_html(b.value_text));
    }
    o += "</svg>";
    return o;
}

}  // namespace synthforge::report
