// request_body: what the fuzz targets (tests/fuzz/) found, as regression tests — a malformed
// body is an api_error (a 400 problem), never another exception.
#include "api/request_body.h"

#include <gtest/gtest.h>

#include "api/problem.h"
#include "schemas/usage.h"

namespace tally::api {
namespace {

TEST(request_body, a_malformed_literal_is_an_api_error) {
  for (std::string_view body : {R"({"et_usd": 0.5, "x": null) "j": true})", R"({"x": nul})",
                                R"({"x": nullx})", R"({"x": tru})", R"({"x": true) "y": 1})"}) {
    try {
      (void)request_body::parse(body);
      ADD_FAILURE() << "accepted: " << body;
    } catch (const api_error& e) {
      EXPECT_EQ(e.status, http::status::bad_request) << body;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not an api_error: " << e.what() << " for " << body;
    }
  }
  auto ok = request_body::parse(R"({"x": null, "y": true})");
  EXPECT_TRUE(ok.is_null("x"));
  EXPECT_EQ(ok.boolean("y"), true);
}

// An array of objects is read with its body: each object a body of its own, and an object with
// a field twice keeps that error to itself (check() throws it), while a body with a field twice
// at the top is refused whole.
TEST(request_body, objects_are_read_in_the_same_pass_and_keep_their_own_errors) {
  auto b = request_body::parse(
      R"({"items": [{"a": 1, "b": "x"}, {"a": 2, "a": 3}, {"n": {"k": [1]}, "s": ["p"]}]})");
  auto items = b.objects("items");
  ASSERT_TRUE(items);
  ASSERT_EQ(items->size(), 3u);
  EXPECT_NO_THROW((*items)[0].check());
  EXPECT_EQ((*items)[0].integer("a"), 1);
  EXPECT_EQ((*items)[0].text("b"), "x");
  try {
    (*items)[1].check();
    ADD_FAILURE() << "a field twice was accepted";
  } catch (const api_error& e) {
    EXPECT_EQ(e.status, http::status::bad_request);
    EXPECT_NE(std::string(e.what()).find("a appears twice"), std::string::npos) << e.what();
  }
  EXPECT_EQ((*items)[1].integer("a"), 2);  // the first one
  EXPECT_EQ((*items)[2].strings("s"), std::vector<std::string>{"p"});
  EXPECT_TRUE((*items)[2].has("n"));
  EXPECT_THROW((void)b.objects("missing").value(), std::bad_optional_access);
  EXPECT_THROW((void)request_body::parse(R"({"a": 1, "a": 2})"), api_error);
  auto mixed = request_body::parse(R"({"items": [{"a": 1}, 2]})");
  EXPECT_THROW((void)mixed.objects("items"), api_error);
  EXPECT_EQ(request_body::parse(R"({"items": []})").objects("items")->size(), 0u);
}

// A report's token fields read from its parsed fields (one parse per report) give what the
// document reader gives for the same object: the same fields, or the same error.
// A field_set takes exactly its names: not a prefix, an extension, another name of the same
// length, a name longer than any it can hold, or the empty name.
TEST(request_body, a_field_set_allows_exactly_its_names) {
  const request_body::field_set set = {"model", "event_id", "cost_usd", "x"};
  using namespace std::string_view_literals;
  for (auto yes : {"model"sv, "event_id"sv, "cost_usd"sv, "x"sv}) EXPECT_TRUE(set.contains(yes));
  for (auto no :
       {""sv, "mode"sv, "models"sv, "Model"sv, "cost_usX"sv, "y"sv, "event_ids"sv, "model\0"sv}) {
    EXPECT_FALSE(set.contains(no)) << no;
  }
  EXPECT_FALSE(set.contains(std::string(200, 'm')));
  auto body = request_body::parse(R"({"model": "m", "event_id": "e"})");
  EXPECT_NO_THROW(body.allow_only(set));
  auto extra = request_body::parse(R"({"model": "m", "cost_usd2": 1})");
  try {
    extra.allow_only(set);
    ADD_FAILURE() << "an unknown field passed";
  } catch (const api_error& e) {
    EXPECT_EQ(e.slug, "unknown_field");
    EXPECT_NE(std::string(e.what()).find("cost_usd2"), std::string::npos) << e.what();
  }
}

TEST(request_body, token_fields_read_from_parsed_fields_match_the_document_reader) {
  const char* bodies[] = {
      R"({"input_tokens":100,"output_tokens":20,"cost_usd":0.5})",
      R"({"session_id":"s","input_tokens":7,"cache_read_input_tokens":null})",
      R"({"input_tokens":1,"cache_creation_input_tokens":2,"cache_read_input_tokens":3})",
      R"({"usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":2}})",
      R"({"usage":{"prompt_tokens":1000,"completion_tokens":200,
          "prompt_tokens_details":{"cached_tokens":800}}})",
      R"({"prompt_tokens":50,"completion_tokens":5,"prompt_tokens_details":null})",
      R"({"prompt_tokens":50,"prompt_tokens_details":{"cached_tokens":50,"audio_tokens":1}})",
      R"({"input_tokens":1000,"input_tokens_details":{"cached_tokens":200}})",
      R"({"usage":{"input_tokens":1000,"input_tokens_details":{"cached_tokens":200}}})",
      R"({"prompt_tokens":10,"prompt_tokens_details":{"cached_tokens":11}})",
      R"({"input_tokens":10,"prompt_tokens":10})",
      R"({"input_tokens":-1})",
      R"({"input_tokens":-0})",
      R"({"input_tokens":1.5})",
      R"({"input_tokens":1e3})",
      R"({"input_tokens":"12"})",
      R"({"input_tokens":true})",
      R"({"input_tokens":[1]})",
      R"({"input_tokens":{"n":1}})",
      R"({"input_tokens":9223372036854775808})",
      R"({"input_tokens":1,"usage":{"output_tokens":2}})",
      R"({"input_tokens":null,"usage":{"output_tokens":2}})",
      R"({"usage":null,"input_tokens":3})",
      R"({"usage":{},"input_tokens":3})",
      R"({"usage":"x"})",
      R"({"usage":[1]})",
      R"({"prompt_tokens_details":5})",
      R"({"prompt_tokens_details":{"cached_tokens":1,"cached_tokens":2},"prompt_tokens":9})",
      R"({"prompt_tokens_details":{"cached_tokens":"1"},"prompt_tokens":9})",
      R"({"usage":{"input_tokens":1,"input_tokens":2}})",
      R"({"usage":{"usage":{"input_tokens":1}}})",
      R"({"model":"gpt-4o","cost_usd":0.5,"usage":{"prompt_tokens":3}})",
      R"({"cost_usd":0.012})",
      R"({})",
  };
  for (const char* json : bodies) {
    SCOPED_TRACE(json);
    auto b = request_body::parse(json);
    auto got = b.usage_fields();
    auto want = parse_usage_fields_json(json);
    ASSERT_EQ(got.has_value(), want.has_value());
    if (!want) {
      EXPECT_EQ(got.error(), want.error());
      continue;
    }
    EXPECT_EQ(got->input_tokens, want->input_tokens);
    EXPECT_EQ(got->output_tokens, want->output_tokens);
    EXPECT_EQ(got->cache_creation_input_tokens, want->cache_creation_input_tokens);
    EXPECT_EQ(got->cache_read_input_tokens, want->cache_read_input_tokens);
    EXPECT_EQ(got->prompt_tokens, want->prompt_tokens);
    EXPECT_EQ(got->completion_tokens, want->completion_tokens);
    EXPECT_EQ(got->cached_tokens, want->cached_tokens);
    EXPECT_EQ(got->input_cached_tokens, want->input_cached_tokens);
  }
}

}  // namespace
}  // namespace tally::api
