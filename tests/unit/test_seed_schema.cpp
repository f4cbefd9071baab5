#include "synthforge/data/seed_schema.h"

#include <gtest/gtest.h>

namespace {

using synthforge::check_seed_record;
using synthforge::Json;
using synthforge::SeedSchema;

std::string problem(const char* json, SeedSchema schema, const std::vector<std::string>& required = {}) {
    auto result = check_seed_record(Json::parse(json), schema, required);
    return result ? *result : "";
}

TEST(SeedSchema, NamesRoundTrip) {
    for (auto s : {SeedSchema::any, SeedSchema::instruction, SeedSchema::chat, SeedSchema::text}) {
        EXPECT_EQ(synthforge::seed_schema_from_name(synthforge::seed_schema_name(s)), s);
    }
    EXPECT_FALSE(synthforge::seed_schema_from_name("alpaca").has_value());
    EXPECT_FALSE(synthforge::seed_schema_from_name("").has_value());
}

TEST(SeedSchema, AnyAcceptsEveryObject) {
    EXPECT_EQ(problem(R"({})", SeedSchema::any), "");
    EXPECT_EQ(problem(R"({"x": [1, 2]})", SeedSchema::any), "");
    EXPECT_EQ(problem(R"([1])", SeedSchema::any), "expected a JSON object, got array");
}

TEST(SeedSchema, Instruction) {
    EXPECT_EQ(problem(R"({"instruction": "Sum", "input": "1 2", "output": "3", "extra": 1})", SeedSchema::instruction),
              "");
    EXPECT_EQ(problem(R"({"instruction": "Sum"})", SeedSchema::instruction), "");
    EXPECT_EQ(problem(R"({"instruction": "Sum", "input": null})", SeedSchema::instruction), "");
    EXPECT_EQ(problem(R"({"input": "x"})", SeedSchema::instruction), "missing required field 'instruction'");
    EXPECT_EQ(problem(R"({"instruction": 5})", SeedSchema::instruction),
              "field 'instruction': expected a string, got number");
    EXPECT_EQ(problem(R"({"instruction": null})", SeedSchema::instruction),
              "field 'instruction': expected a string, got null");
    EXPECT_EQ(problem(R"({"instruction": "a", "output": ["x"]})", SeedSchema::instruction),
              "field 'output': expected a string, got array");
    EXPECT_EQ(problem(R"({"instruction": "a", "input": true})", SeedSchema::instruction),
              "field 'input': expected a string, got boolean");
}

TEST(SeedSchema, Chat) {
    EXPECT_EQ(problem(R"({"messages": [{"role": "system", "content": "Be brief."},
                                       {"role": "user", "content": "Hi"},
                                       {"role": "assistant", "content": "Hello"},
                                       {"role": "tool", "content": "{}"}]})",
                      SeedSchema::chat),
              "");
    EXPECT_EQ(problem(R"({})", SeedSchema::chat), "missing required field 'messages'");
    EXPECT_EQ(problem(R"({"messages": "hi"})", SeedSchema::chat), "field 'messages': expected an array, got string");
    EXPECT_EQ(problem(R"({"messages": []})", SeedSchema::chat), "field 'messages': expected a non-empty array");
    EXPECT_EQ(problem(R"({"messages": ["hi"]})", SeedSchema::chat),
              "field 'messages[0]': expected an object, got string");
    EXPECT_EQ(problem(R"({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": 3}]})",
                      SeedSchema::chat),
              "field 'messages[1].content': expected a string, got number");
    EXPECT_EQ(problem(R"({"messages": [{"role": "user", "content": "a"}, {"role": "user"}]})", SeedSchema::chat),
              "missing required field 'messages[1].content'");
    EXPECT_EQ(problem(R"({"messages": [{"content": "a"}]})", SeedSchema::chat),
              "missing required field 'messages[0].role'");
    EXPECT_EQ(problem(R"({"messages": [{"role": 1, "content": "a"}]})", SeedSchema::chat),
              "field 'messages[0].role': expected a string, got number");
    EXPECT_EQ(problem(R"({"messages": [{"role": "u", "content": "a"}, {"role": "user", "content": "b"},
                                       {"role": "bot", "content": "c"}]})",
                      SeedSchema::chat),
              "field 'messages[0].role': expected one of system, user, assistant, tool");
}

TEST(SeedSchema, Text) {
    EXPECT_EQ(problem(R"({"text": "hello", "id": 1})", SeedSchema::text), "");
    EXPECT_EQ(problem(R"({"body": "hello"})", SeedSchema::text), "missing required field 'text'");
    EXPECT_EQ(problem(R"({"text": {"a": 1}})", SeedSchema::text), "field 'text': expected a string, got object");
}

TEST(SeedSchema, RequiredColumnsOfAnyType) {
    EXPECT_EQ(problem(R"({"topic": null, "n": 3})", SeedSchema::any, {"topic", "n"}), "");
    EXPECT_EQ(problem(R"({"topic": "x"})", SeedSchema::any, {"topic", "level"}), "missing required field 'level'");
    // The schema is checked first, then the extra columns.
    EXPECT_EQ(problem(R"({"topic": "x"})", SeedSchema::text, {"level"}), "missing required field 'text'");
}

}  // namespace
