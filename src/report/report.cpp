// write_report: gathers the data once and writes both views of it.
#include "report/report.h"

#include "report/html_report.h"
#include "report/metrics_json.h"
#include "report/report_data.h"
#include "synthforge/data/writer.h"
#include "synthforge/errors.h"

namespace synthforge::report {

ReportOutcome write_report(const ReportOptions& options, const std::filesystem::path& html,
                           const std::filesystem::path& json) {
    if (!std::filesystem::is_regular_file(options.input))
        throw UserError("report: no such file: " + options.input.string());
    if (!options.reference.empty() && !std::filesystem::is_regular_file(options.reference))
        throw UserError("--reference: no such file: " + options.reference.string());
    ReportData data = collect_report(options);
    if (!html.empty()) write_file_atomic(html, render_html(data));
    if (!json.empty())
        write_file_atomic(json, metrics_json(data).dump(2, ' ', false, Json::error_handler_t::replace) + "\n");
    ReportOutcome out;
    out.rows = data.rows;
    for (const auto& f : data.flags) out.flags.push_back(f.section + ": " + f.message);
    return out;
}

}  // namespace synthforge::report
