#include "synthforge/data/chat_formats.h"

#include <fmt/format.h>

#include <initializer_list>

namespace synthforge {
namespace {

const std::initializer_list<const char*> kMessagesFields = {"messages"};
const std::initializer_list<const char*> kShareGptFields = {"conversations", "system"};
const std::initializer_list<const char*> kAlpacaFields = {"instruction", "input", "output", "system", "history"};

const std::initializer_list<const char*>& own_fields(ChatFormat f) {
    switch (f) {
        case ChatFormat::messages:
            return kMessagesFields;
        case ChatFormat::sharegpt:
            return kShareGptFields;
        case ChatFormat::alpaca:
            break;
    }
    return kAlpacaFields;
}

template <typename T>
ChatResult<T> problem(std::string why) {
    return {std::nullopt, std::move(why)};
}

std::optional<std::string> sharegpt_role(const std::string& from) {
    if (from == "human" || from == "user") return "user";
    if (from == "gpt" || from == "assistant" || from == "chatgpt" || from == "model") return "assistant";
    if (from == "system") return "system";
    return std::nullopt;
}

ChatResult<Conversation> read_messages(const Record& r) {
    auto it = r.find("messages");
    if (it == r.end() || !it->is_array()) return problem<Conversation>("no 'messages' array");
    Conversation c;
    size_t n = 0;
    for (const auto& m : *it) {
        ++n;
        if (!m.is_object()) return problem<Conversation>(fmt::format("messages[{}] is not an object", n - 1));
        auto role = m.find("role");
        if (role == m.end() || !role->is_string())
            return problem<Conversation>(fmt::format("messages[{}] has no role", n - 1));
        std::string rs = role->get<std::string>();
        if (rs != "system" && rs != "user" && rs != "assistant")
            return problem<Conversation>(
                fmt::format("messages[{}]: role '{}' is not a chat turn (system, user or assistant)", n - 1, rs));
        auto content = m.find("content");
        if (content == m.end() || !content->is_string())
            return problem<Conversation>(fmt::format("messages[{}]: content is not text", n - 1));
        c.turns.push_back({rs, content->get<std::string>()});
    }
    return {std::move(c), ""};
}

ChatResult<Conversation> read_sharegpt(const Record& r) {
    auto it = r.find("conversations");
    if (it == r.end() || !it->is_array()) return problem<Conversation>("no 'conversations' array");
    Conversation c;
    if (auto sys = r.find("system"); sys != r.end() && !sys->is_null()) {
        if (!sys->is_string()) return problem<Conversation>("'system' is not text");
        if (!sys->get<std::string>().empty()) c.turns.push_back({"system", sys->get<std::string>()});
    }
    size_t n = 0;
    for (const auto& m : *it) {
        ++n;
        if (!m.is_object()) return problem<Conversation>(fmt::format("conversations[{}] is not an object", n - 1));
        auto from = m.find("from");
        if (from == m.end() || !from->is_string())
            return problem<Conversation>(fmt::format("conversations[{}] has no 'from'", n - 1));
        auto role = sharegpt_role(from->get<std::string>());
        if (!role)
            return problem<Conversation>(fmt::format(
                "conversations[{}]: 'from' {} is not a chat turn (system, human or gpt)", n - 1, from->dump()));
        auto value = m.find("value");
        if (value == m.end() || !value->is_string())
            return problem<Conversation>(fmt::format("conversations[{}]: value is not text", n - 1));
        if (*role == "system" && !c.turns.empty() && c.turns.front().role == "system" && n == 1)
            return problem<Conversation>("two system prompts: the top-level 'system' and conversations[0]");
        c.turns.push_back({*role, value->get<std::string>()});
    }
    return {std::move(c), ""};
}

ChatResult<Conversation> read_alpaca(const Record& r) {
    auto text = [&](const char* key, bool required) -> ChatResult<std::string> {
        auto it = r.find(key);
        if (it == r.end() || it->is_null()) {
            if (required) return problem<std::string>(fmt::format("no '{}'", key));
            return {std::string(), ""};
        }
        if (!it->is_string()) return problem<std::string>(fmt::format("'{}' is not text", key));
        return {it->get<std::string>(), ""};
    };
    auto instruction = text("instruction", true);
    if (!instruction) return problem<Conversation>(instruction.problem);
    auto input = text("input", false);
    if (!input) return problem<Conversation>(input.problem);
    auto output = text("output", true);
    if (!output) return problem<Conversation>(output.problem);
    auto system = text("system", false);
    if (!system) return problem<Conversation>(system.problem);

    Conversation c;
    if (!system.value->empty()) c.turns.push_back({"system", *system.value});
    if (auto h = r.find("history"); h != r.end() && !h->is_null()) {
        if (!h->is_array()) return problem<Conversation>("'history' is not a list of [instruction, response] pairs");
        size_t n = 0;
        for (const auto& pair : *h) {
            if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string())
                return problem<Conversation>(
                    fmt::format("history[{}] is not an [instruction, response] pair of texts", n));
            c.turns.push_back({"user", pair[0].get<std::string>()});
            c.turns.push_back({"assistant", pair[1].get<std::string>()});
            ++n;
        }
    }
    // Stanford Alpaca keeps the input in its own prompt section; a chat has one user
    // message, so the input follows the instruction after a blank line.
    std::string user = *instruction.value;
    if (!input.value->empty()) user += "\n\n" + *input.value;
    c.turns.push_back({"user", std::move(user)});
    c.turns.push_back({"assistant", *output.value});
    return {std::move(c), ""};
}

// The turns after an optional leading system prompt must alternate user, assistant, ...
std::optional<std::string> check_alternation(const Conversation& c, std::string_view target) {
    size_t first = !c.turns.empty() && c.turns[0].role == "system" ? 1 : 0;
    for (size_t i = first; i < c.turns.size(); ++i) {
        const auto& role = c.turns[i].role;
        if (role == "system")
            return fmt::format("a system message at turn {}: {} has one system prompt, before the conversation", i,
                               target);
        std::string_view want = (i - first) % 2 == 0 ? "user" : "assistant";
        if (role != want)
            return fmt::format("turn {} is {} where {} expects {} (user and assistant turns alternate, user first)", i,
                               role, target, want);
    }
    return std::nullopt;
}

ChatResult<Record> write_messages(const Conversation& c) {
    Json messages = Json::array();
    for (const auto& t : c.turns) messages.push_back({{"role", t.role}, {"content", t.content}});
    return {Record{{"messages", std::move(messages)}}, ""};
}

ChatResult<Record> write_sharegpt(const Conversation& c) {
    if (auto bad = check_alternation(c, "sharegpt")) return problem<Record>(*bad);
    Json turns = Json::array();
    for (const auto& t : c.turns)
        turns.push_back({{"from", t.role == "user"        ? "human"
                                  : t.role == "assistant" ? "gpt"
                                                          : "system"},
                         {"value", t.content}});
    return {Record{{"conversations", std::move(turns)}}, ""};
}

ChatResult<Record> write_alpaca(const Conversation& c, const ChatConvertOptions& o) {
    if (auto bad = check_alternation(c, "alpaca")) return problem<Record>(*bad);
    size_t first = !c.turns.empty() && c.turns[0].role == "system" ? 1 : 0;
    size_t n = c.turns.size() - first;
    if (n == 0) return problem<Record>("no user turn: alpaca needs an instruction");
    if (n % 2 == 1) return problem<Record>("the conversation ends with a user turn: alpaca needs the answer in output");
    size_t exchanges = n / 2;
    if (exchanges > 1 && !o.alpaca_history)
        return problem<Record>(
            fmt::format("{} exchanges: alpaca holds one instruction and one output (convert with "
                        "--alpaca-history to keep the earlier turns in 'history')",
                        exchanges));
    Record r;
    r["instruction"] = c.turns[c.turns.size() - 2].content;
    r["input"] = "";
    r["output"] = c.turns.back().content;
    if (first) r["system"] = c.turns[0].content;
    if (exchanges > 1) {
        Json history = Json::array();
        for (size_t i = first; i + 2 < c.turns.size(); i += 2)
            history.push_back(Json::array({c.turns[i].content, c.turns[i + 1].content}));
        r["history"] = std::move(history);
    }
    return {std::move(r), ""};
}

}  // namespace

std::optional<ChatFormat> chat_format_from_name(std::string_view name) {
    if (name == "messages") return ChatFormat::messages;
    if (name == "alpaca") return ChatFormat::alpaca;
    if (name == "sharegpt") return ChatFormat::sharegpt;
    return std::nullopt;
}

std::string_view chat_format_name(ChatFormat format) {
    switch (format) {
        case ChatFormat::messages:
            return "messages";
        case ChatFormat::alpaca:
            return "alpaca";
        case ChatFormat::sharegpt:
            return "sharegpt";
    }
    return "?";
}

std::optional<ChatFormat> detect_chat_format(const Record& record) {
    if (!record.is_object()) return std::nullopt;
    if (auto it = record.find("messages"); it != record.end() && it->is_array()) return ChatFormat::messages;
    if (auto it = record.find("conversations"); it != record.end() && it->is_array()) return ChatFormat::sharegpt;
    if (record.contains("instruction")) return ChatFormat::alpaca;
    return std::nullopt;
}

ChatResult<Conversation> read_conversation(const Record& record, ChatFormat format) {
    if (!record.is_object()) return problem<Conversation>("not a JSON object");
    ChatResult<Conversation> c = format == ChatFormat::messages   ? read_messages(record)
                                 : format == ChatFormat::sharegpt ? read_sharegpt(record)
                                                                  : read_alpaca(record);
    if (c && c.value->turns.empty()) return problem<Conversation>("the conversation is empty");
    return c;
}

ChatResult<Record> write_conversation(const Conversation& conversation, ChatFormat format,
                                      const ChatConvertOptions& options) {
    switch (format) {
        case ChatFormat::messages:
            return write_messages(conversation);
        case ChatFormat::sharegpt:
            return write_sharegpt(conversation);
        case ChatFormat::alpaca:
            break;
    }
    return write_alpaca(conversation, options);
}

ChatResult<Record> convert_chat_record(const Record& record, ChatFormat from, ChatFormat to,
                                       const ChatConvertOptions& options) {
    auto conversation = read_conversation(record, from);
    if (!conversation)
        return problem<Record>(fmt::format("not a {} record: {}", chat_format_name(from), conversation.problem));
    auto fields = write_conversation(*conversation.value, to, options);
    if (!fields) return problem<Record>(fmt::format("cannot be {}: {}", chat_format_name(to), fields.problem));
    Record out = Json::object();
    for (const auto& [k, v] : record.items()) {
        bool own = false;
        for (const char* f : own_fields(from)) own = own || k == f;
        if (!own) out[k] = v;
    }
    for (auto& [k, v] : fields.value->items()) out[k] = std::move(v);
    return {std::move(out), ""};
}

}  // namespace synthforge
