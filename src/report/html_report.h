#pragma once
// The report as one self-contained HTML page: inline CSS and inline SVG charts, no scripts,
// no fonts, images or styles fetched from anywhere. Every string that comes from the data
// (column names, texts, reasons, paths) is escaped, so a sample holding "<img src=...>" or a
// URL shows as text and loads nothing.

#include "report/report_data.h"

#include <string>

namespace synthforge::report {

std::string render_html(const ReportData& data);

}  // namespace synthforge::report
