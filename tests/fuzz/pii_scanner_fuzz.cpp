// libFuzzer target: the PII scanner (include/synthforge/privacy/pii.h) and redaction on
// arbitrary text, with every built-in recognizer, a custom pattern and a deny list.
#include "synthforge/privacy/pii.h"

#include <string>

using namespace synthforge::privacy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const Scanner scanner([] {
        ScannerOptions o;
        o.phone_regions = {"US", "DE", "GB"};
        o.min_score = 0.0;  // every candidate reaches the validators and the redactor
        o.patterns.push_back({"EMPLOYEE_ID", R"(\bEMP-\d{6}\b)", 0.8, {"employee"}});
        o.deny_lists.push_back({"CUSTOMER_NAME", {"Ada Lovelace", "Grace Hopper"}, false, 1.0});
        return o;
    }());
    static const Redactor placeholder;
    static const Redactor surrogate([] {
        RedactOptions o;
        o.surrogate = true;
        o.seed = 7;
        return o;
    }());
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto findings = scanner.scan(text);
    for (const auto& f : findings) {
        // Offsets are what redaction and reports rely on.
        if (f.start > f.end || f.end > text.size() || text.substr(f.start, f.end - f.start) != f.text) std::abort();
        if (f.score < 0 || f.score > 1) std::abort();
    }
    (void)placeholder.redact(text, findings);
    (void)surrogate.redact(text, findings);
    return 0;
}
