#include "synthforge/data/format.h"

#include "synthforge/errors.h"

#include <algorithm>
#include <cctype>

namespace synthforge {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

}  // namespace

std::optional<Format> format_from_name(std::string_view name) {
    const std::string n = lower(name);
    if (n == "jsonl") return Format::jsonl;
    if (n == "json") return Format::json;
    if (n == "csv") return Format::csv;
    if (n == "txt" || n == "text") return Format::text;
    return std::nullopt;
}

std::optional<Format> format_from_path(const std::filesystem::path& path) {
    // Extensions are matched case-insensitively: DATA.JSONL from a Windows share is still JSONL.
    const std::string ext = lower(path.extension().string());
    if (ext == ".jsonl" || ext == ".ndjson") return Format::jsonl;
    if (ext == ".json") return Format::json;
    if (ext == ".csv") return Format::csv;
    if (ext == ".txt" || ext == ".md") return Format::text;
    return std::nullopt;
}

Format resolve_format(const std::filesystem::path& path, std::string_view explicit_name) {
    if (!explicit_name.empty()) {
        if (auto f = format_from_name(explicit_name)) return *f;
        throw UserError("unknown format '" + std::string(explicit_name) + "' for '" + path.string() +
                        "'; expected jsonl, json, csv or txt");
    }
    if (auto f = format_from_path(path)) return *f;
    throw UserError("cannot tell the format of '" + path.string() +
                    "' from its extension; pass --format jsonl|json|csv|txt");
}

std::string_view format_name(Format f) {
    switch (f) {
        case Format::jsonl:
            return "jsonl";
        case Format::json:
            return "json";
        case Format::csv:
            return "csv";
        case Format::text:
            return "txt";
    }
    return "?";
}

}  // namespace synthforge
