#pragma once
// The report's numbers as JSON (`synthforge report --json`): every number the HTML shows, in
// the schema documented in docs/report.md, so scripts and CI can check a dataset.

#include "report/report_data.h"

namespace synthforge::report {

Json metrics_json(const ReportData& data);

// A distribution as {count, mean, stddev, min, p25, median, p75, p99, max, histogram}.
Json distribution_json(const Distribution& d);

}  // namespace synthforge::report
