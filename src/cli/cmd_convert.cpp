// synthforge convert IN -o OUT [--from messages|alpaca|sharegpt] --to messages|alpaca|sharegpt:
// rewrites a chat dataset from one training format into another (data/chat_formats.h).
// A record the target cannot hold (a multi-turn chat as plain alpaca, a malformed turn)
// goes to the rejects with the reason; the rest convert in input order.
#include "commands.h"
#include "synthforge/data/chat_formats.h"
#include "synthforge/data/reader.h"
#include "synthforge/data/writer.h"
#include "synthforge/errors.h"

#include <fmt/format.h>

namespace synthforge::cli {
namespace {

struct ConvertArgs {
    std::string input;
    std::string output;
    std::string from;
    std::string to;
    std::string rejects;
    std::string input_format;
    std::string output_format;
    bool alpaca_history = false;
    bool quiet = false;
};

int convert(const ConvertArgs& a) {
    ChatFormat to = *chat_format_from_name(a.to);
    std::optional<ChatFormat> from;
    if (!a.from.empty()) from = chat_format_from_name(a.from);
    ChatConvertOptions options;
    options.alpaca_history = a.alpaca_history;

    ReadOptions ro;
    ro.format = a.input_format;
    std::filesystem::path output = a.output;
    std::filesystem::path rejects = a.rejects;  // default: "out.jsonl" -> "out.rejects.jsonl"
    if (rejects.empty()) rejects = std::filesystem::path(output).replace_extension("").string() + ".rejects.jsonl";
    auto reader = open_reader(a.input, ro);
    auto writer = open_writer(output, resolve_format(output, a.output_format));
    auto rejects_writer = open_writer(rejects, Format::jsonl);
    uint64_t converted = 0, rejected = 0;
    Record rec;
    SourcePos pos;
    while (reader->next(rec, pos)) {
        if (!from) {
            // Auto-detection looks at the first record that has any format's fields, so one
            // odd record does not switch the format of a whole file.
            from = detect_chat_format(rec);
            if (from && !a.quiet)
                fmt::print(stderr, "convert: {} looks like {} (from {}); use --from to say otherwise\n", a.input,
                           chat_format_name(*from), pos.str());
        }
        std::string reason;
        if (!from) {
            reason =
                "no chat format recognised (no 'messages' or 'conversations' array, no 'instruction'); give "
                "--from";
        } else if (auto out = convert_chat_record(rec, *from, to, options)) {
            writer->write(*out.value);
            ++converted;
            continue;
        } else {
            reason = out.problem;
        }
        Record bad = rec.is_object() ? rec : Record{{"_raw", rec}};
        bad[kRejectedByColumn] = "convert";
        bad[kReasonColumn] = reason;
        bad[kSourceColumn] = pos.str();
        rejects_writer->write(bad);
        ++rejected;
    }
    writer->commit();
    rejects_writer->commit();
    if (!a.quiet) {
        fmt::print(stderr, "convert {} -> {}: {} converted, {} rejected -> {}\n", from ? chat_format_name(*from) : "?",
                   chat_format_name(to), converted, rejected, output.string());
        if (rejected) fmt::print(stderr, "rejected records with reasons: {}\n", rejects.string());
    }
    return 0;
}

}  // namespace

Command add_convert_command(CLI::App& app) {
    auto args = std::make_shared<ConvertArgs>();
    auto* cmd = app.add_subcommand("convert", "Convert a chat dataset between messages, alpaca and sharegpt formats");
    const auto formats = CLI::IsMember({"messages", "alpaca", "sharegpt"});
    cmd->add_option("input", args->input, "Input file (jsonl, json; csv for alpaca)")->required();
    cmd->add_option("-o,--output", args->output, "Output file (.jsonl, .json, .csv)")->required();
    cmd->add_option("--from", args->from, "Input format (default: detected from the first record)")->check(formats);
    cmd->add_option("--to", args->to, "Output format")->required()->check(formats);
    cmd->add_flag("--alpaca-history", args->alpaca_history,
                  "--to alpaca: keep the earlier exchanges of a multi-turn chat in 'history' (LLaMA-Factory's "
                  "convention) instead of rejecting it");
    cmd->add_option("--rejects", args->rejects,
                    "Records that cannot be converted, with the reason (default "
                    "OUTPUT-without-extension.rejects.jsonl)");
    cmd->add_option("--format", args->input_format, "Input format when the extension does not say it")
        ->check(CLI::IsMember({"jsonl", "json", "csv"}));
    cmd->add_option("--output-format", args->output_format, "Output format when the extension does not say it")
        ->check(CLI::IsMember({"jsonl", "json", "csv"}));
    cmd->add_flag("-q,--quiet", args->quiet, "No summary");
    return [args] { return convert(*args); };
}

}  // namespace synthforge::cli
