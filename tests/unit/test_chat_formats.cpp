#include "synthforge/data/chat_formats.h"

#include <gtest/gtest.h>

namespace {

using namespace synthforge;

Record messages_record() {
    return Json::parse(R"({"id": 7, "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."}]})");
}

Record multi_turn() {
    return Json::parse(R"({"messages": [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]})");
}

TEST(ChatFormats, DetectsEachFormatFromItsFields) {
    EXPECT_EQ(detect_chat_format(messages_record()), ChatFormat::messages);
    EXPECT_EQ(detect_chat_format(Json::parse(R"({"conversations": []})")), ChatFormat::sharegpt);
    EXPECT_EQ(detect_chat_format(Json::parse(R"({"instruction": "x", "output": "y"})")), ChatFormat::alpaca);
    EXPECT_EQ(detect_chat_format(Json::parse(R"({"text": "x"})")), std::nullopt);
    EXPECT_EQ(detect_chat_format(Json::parse(R"({"messages": "not a list"})")), std::nullopt);
}

TEST(ChatFormats, MessagesToAlpacaKeepsSystemAndOtherColumns) {
    auto r = convert_chat_record(messages_record(), ChatFormat::messages, ChatFormat::alpaca);
    ASSERT_TRUE(r) << r.problem;
    EXPECT_EQ(r.value->dump(), R"({"id":7,"instruction":"Capital of France?","input":"","output":"Paris.",)"
                               R"("system":"You are terse."})");
}

TEST(ChatFormats, AlpacaInputFollowsTheInstructionInOneUserTurn) {
    auto r = convert_chat_record(Json::parse(R"({"instruction": "Translate.", "input": "Bonjour", "output": "Hello"})"),
                                 ChatFormat::alpaca, ChatFormat::messages);
    ASSERT_TRUE(r) << r.problem;
    EXPECT_EQ((*r.value)["messages"].dump(),
              R"([{"role":"user","content":"Translate.\n\nBonjour"},{"role":"assistant","content":"Hello"}])");
}

TEST(ChatFormats, ShareGptRolesMapBothWays) {
    auto r = convert_chat_record(messages_record(), ChatFormat::messages, ChatFormat::sharegpt);
    ASSERT_TRUE(r) << r.problem;
    EXPECT_EQ((*r.value)["conversations"].dump(),
              R"([{"from":"system","value":"You are terse."},{"from":"human","value":"Capital of France?"},)"
              R"({"from":"gpt","value":"Paris."}])");
    auto back = convert_chat_record(*r.value, ChatFormat::sharegpt, ChatFormat::messages);
    ASSERT_TRUE(back) << back.problem;
    EXPECT_EQ(*back.value, messages_record());  // lossless round trip, id kept in front
}

TEST(ChatFormats, ShareGptTopLevelSystemBecomesTheFirstTurn) {
    auto r =
        convert_chat_record(Json::parse(R"({"system": "Be kind.", "conversations": [{"from": "human", "value": "Hi"},
                                                                   {"from": "gpt", "value": "Hello"}]})"),
                            ChatFormat::sharegpt, ChatFormat::messages);
    ASSERT_TRUE(r) << r.problem;
    EXPECT_EQ((*r.value)["messages"][0].dump(), R"({"role":"system","content":"Be kind."})");
    EXPECT_FALSE(r.value->contains("system"));
}

TEST(ChatFormats, MultiTurnIsRejectedForPlainAlpacaWithTheReason) {
    auto r = convert_chat_record(multi_turn(), ChatFormat::messages, ChatFormat::alpaca);
    ASSERT_FALSE(r);
    EXPECT_NE(r.problem.find("2 exchanges"), std::string::npos) << r.problem;
    EXPECT_NE(r.problem.find("--alpaca-history"), std::string::npos) << r.problem;
}

TEST(ChatFormats, MultiTurnKeepsEarlierExchangesInAlpacaHistory) {
    ChatConvertOptions o;
    o.alpaca_history = true;
    auto r = convert_chat_record(multi_turn(), ChatFormat::messages, ChatFormat::alpaca, o);
    ASSERT_TRUE(r) << r.problem;
    EXPECT_EQ(r.value->dump(), R"({"instruction":"2+2?","input":"","output":"4","history":[["Hi","Hello!"]]})");
    // ... and history reads back into the same turns.
    auto back = convert_chat_record(*r.value, ChatFormat::alpaca, ChatFormat::messages);
    ASSERT_TRUE(back) << back.problem;
    EXPECT_EQ(*back.value, multi_turn());
}

TEST(ChatFormats, RejectsWhatATargetCannotHold) {
    auto ends_with_user = Json::parse(R"({"messages": [{"role": "user", "content": "Hi"}]})");
    auto r = convert_chat_record(ends_with_user, ChatFormat::messages, ChatFormat::alpaca);
    ASSERT_FALSE(r);
    EXPECT_NE(r.problem.find("ends with a user turn"), std::string::npos) << r.problem;
    // Messages hold it: a prompt without an answer is still a chat.
    EXPECT_TRUE(convert_chat_record(ends_with_user, ChatFormat::messages, ChatFormat::messages));

    auto late_system = Json::parse(R"({"messages": [{"role": "user", "content": "Hi"},
        {"role": "system", "content": "Now be formal."}, {"role": "assistant", "content": "Good day."}]})");
    r = convert_chat_record(late_system, ChatFormat::messages, ChatFormat::sharegpt);
    ASSERT_FALSE(r);
    EXPECT_NE(r.problem.find("system message at turn 1"), std::string::npos) << r.problem;

    auto two_users = Json::parse(R"({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
        {"role": "assistant", "content": "c"}]})");
    r = convert_chat_record(two_users, ChatFormat::messages, ChatFormat::alpaca);
    ASSERT_FALSE(r);
    EXPECT_NE(r.problem.find("turn 1 is user"), std::string::npos) << r.problem;
}

TEST(ChatFormats, MalformedRecordsNameTheFaultyField) {
    auto tool = Json::parse(R"({"messages": [{"role": "tool", "content": "42"}]})");
    auto r = convert_chat_record(tool, ChatFormat::messages, ChatFormat::sharegpt);
    ASSERT_FALSE(r);
    EXPECT_NE(r.problem.find("messages[0]: role 'tool'"), std::string::npos) << r.problem;

    auto parts = Json::parse(R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})");
    r = convert_chat_record(parts, ChatFormat::messages, ChatFormat::alpaca);
    ASSERT_FALSE(r);
    EXPECT_NE(r.problem.find("messages[0]: content is not text"), std::string::npos) << r.problem;

    r = convert_chat_record(Json::parse(R"({"instruction": "x"})"), ChatFormat::alpaca, ChatFormat::messages);
    ASSERT_FALSE(r);
    EXPECT_NE(r.problem.find("no 'output'"), std::string::npos) << r.problem;

    r = convert_chat_record(Json::parse(R"({"instruction": "x", "output": "y", "history": [["only one"]]})"),
                            ChatFormat::alpaca, ChatFormat::messages);
    ASSERT_FALSE(r);
    EXPECT_NE(r.problem.find("history[0]"), std::string::npos) << r.problem;

    r = convert_chat_record(Json::parse(R"({"messages": []})"), ChatFormat::messages, ChatFormat::sharegpt);
    ASSERT_FALSE(r);
    EXPECT_NE(r.problem.find("empty"), std::string::npos) << r.problem;
}

}  // namespace
