#pragma once
// File formats synthforge reads and writes, and how a format is chosen.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace synthforge {

enum class Format { jsonl, json, csv, text };

// "jsonl" | "json" | "csv" | "txt"/"text"; nullopt when unknown.
std::optional<Format> format_from_name(std::string_view name);
// From the extension (.jsonl/.ndjson, .json, .csv, .txt/.md); nullopt when unknown.
std::optional<Format> format_from_path(const std::filesystem::path& path);
// The explicit name when given, else the extension; throws UserError naming the file otherwise.
Format resolve_format(const std::filesystem::path& path, std::string_view explicit_name);
std::string_view format_name(Format f);

}  // namespace synthforge
