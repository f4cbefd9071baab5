#pragma once
// Chat dataset formats and conversion between them (`synthforge convert`).
//
//   messages  {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}
//             (OpenAI chat format; what training stacks such as TRL's SFTTrainer read)
//   alpaca    {"instruction", "input", "output"} plus optional "system" and "history"
//             (Stanford Alpaca; "system" and "history" as in LLaMA-Factory's alpaca format:
//             history is [[user, assistant], ...] of the turns before the last)
//   sharegpt  {"conversations": [{"from": "system"|"human"|"gpt", "value": "..."}, ...]}
//             (a top-level "system" is read too; written as a first "system" turn)
//
// A record converts through one neutral Conversation. What a target cannot hold is a
// per-record problem with a reason (the record goes to the rejects), never a silent loss:
// alpaca holds one exchange (several only with history), and neither alpaca nor sharegpt
// has a place for a system message after the first turn. Columns that belong to no format
// (ids, metadata) are kept as they are.

#include "synthforge/data/record.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace synthforge {

enum class ChatFormat { messages, alpaca, sharegpt };

std::optional<ChatFormat> chat_format_from_name(std::string_view name);
std::string_view chat_format_name(ChatFormat format);

// The format a record is in, from its fields: "messages" (array) -> messages,
// "conversations" (array) -> sharegpt, "instruction" -> alpaca; nullopt for none of them.
std::optional<ChatFormat> detect_chat_format(const Record& record);

struct ChatTurn {
    std::string role;  // "system", "user" or "assistant"
    std::string content;
};

struct Conversation {
    std::vector<ChatTurn> turns;
};

struct ChatConvertOptions {
    // Alpaca output: a multi-turn conversation keeps its earlier exchanges in `history`
    // (LLaMA-Factory's convention). false: such a record is rejected, since plain alpaca
    // holds one instruction and one output.
    bool alpaca_history = false;
};

// Either a value or the reason there is none (a per-record problem, not an exception).
template <typename T>
struct ChatResult {
    std::optional<T> value;
    std::string problem;
    explicit operator bool() const { return value.has_value(); }
};

// Reads the conversation of `record` in `format`.
ChatResult<Conversation> read_conversation(const Record& record, ChatFormat format);

// The fields of `conversation` in `format` (only the format's own fields).
ChatResult<Record> write_conversation(const Conversation& conversation, ChatFormat format,
                                      const ChatConvertOptions& options = {});

// Converts one record: the source format's fields are replaced by the target's, other
// columns stay in place, in front.
ChatResult<Record> convert_chat_record(const Record& record, ChatFormat from, ChatFormat to,
                                       const ChatConvertOptions& options = {});

}  // namespace synthforge
