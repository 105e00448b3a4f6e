// Usage normalisation: both wire shapes (Anthropic, OpenAI) and the refusals that keep a bad
// report from turning into a wrong cost.
#include "schemas/usage.h"

#include <cstdint>
#include <limits>

#include <gtest/gtest.h>

namespace tally {
namespace {

TEST(usage, anthropic_top_level_fields_are_taken_as_is) {
  auto t = parse_usage_json(
      R"({"input_tokens":2500,"output_tokens":800,"cache_creation_input_tokens":100,)"
      R"("cache_read_input_tokens":300,"cost_usd":0.012})");
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(*t,
            (token_counts{.input = 2500, .output = 800, .cache_creation = 100, .cache_read = 300}));
  EXPECT_EQ(t->total(), 3700);
}

TEST(usage, anthropic_messages_response_nested_usage) {
  // A Messages API response body: unknown usage members (cache_creation breakdown,
  // service_tier) are ignored, the four counters are read.
  auto t = parse_usage_json(R"({
    "id": "msg_01", "model": "claude-sonnet-4-20250514", "content": [{"type":"text","text":"hi"}],
    "usage": {"input_tokens": 10, "cache_creation_input_tokens": 2000,
              "cache_read_input_tokens": 5000, "output_tokens": 20,
              "cache_creation": {"ephemeral_5m_input_tokens": 2000}, "service_tier": "standard"}
  })");
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(*t,
            (token_counts{.input = 10, .output = 20, .cache_creation = 2000, .cache_read = 5000}));
}

TEST(usage, openai_cached_tokens_are_a_subset_of_prompt_tokens) {
  // 1000 prompt tokens of which 600 were cached: 400 fresh input + 600 cache reads. Counting
  // input = 1000 as well as cache_read = 600 would bill the cached tokens twice.
  auto t = parse_usage_json(R"({"usage":{"prompt_tokens":1000,"completion_tokens":200,
      "total_tokens":1200,"prompt_tokens_details":{"cached_tokens":600,"audio_tokens":0},
      "completion_tokens_details":{"reasoning_tokens":50}}})");
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(*t,
            (token_counts{.input = 400, .output = 200, .cache_creation = 0, .cache_read = 600}));
  EXPECT_EQ(t->total(), 1200);  // agrees with OpenAI's own total_tokens
}

TEST(usage, openai_without_details_or_with_null_details) {
  auto a = parse_usage_json(R"({"prompt_tokens":50,"completion_tokens":5})");
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, (token_counts{.input = 50, .output = 5}));
  auto b = parse_usage_json(
      R"({"usage":{"prompt_tokens":50,"completion_tokens":5,"prompt_tokens_details":null}})");
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, (token_counts{.input = 50, .output = 5}));
}

TEST(usage, openai_all_prompt_tokens_cached) {
  auto t = parse_usage_json(
      R"({"prompt_tokens":64,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":64}})");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, (token_counts{.input = 0, .output = 1, .cache_read = 64}));
}

TEST(usage, openai_responses_api_input_includes_cached) {
  auto t = parse_usage_json(R"({"usage":{"input_tokens":1000,
      "input_tokens_details":{"cached_tokens":400},"output_tokens":50,
      "output_tokens_details":{"reasoning_tokens":20},"total_tokens":1050}})");
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(*t, (token_counts{.input = 600, .output = 50, .cache_read = 400}));
}

TEST(usage, cached_exceeding_prompt_is_refused) {
  EXPECT_EQ(parse_usage_json(R"({"prompt_tokens":10,"prompt_tokens_details":{"cached_tokens":11}})")
                .error(),
            usage_errc::cached_exceeds_prompt);
  EXPECT_EQ(normalise_usage({.cached_tokens = 1}).error(), usage_errc::cached_exceeds_prompt);
  EXPECT_EQ(normalise_usage({.input_tokens = 3, .input_cached_tokens = 4}).error(),
            usage_errc::cached_exceeds_prompt);
}

TEST(usage, mixed_shapes_are_refused) {
  EXPECT_EQ(parse_usage_json(R"({"input_tokens":10,"prompt_tokens":10})").error(),
            usage_errc::mixed_shapes);
  EXPECT_EQ(parse_usage_json(R"({"output_tokens":1,"completion_tokens":1})").error(),
            usage_errc::mixed_shapes);
  EXPECT_EQ(normalise_usage({.cache_read_input_tokens = 5, .cached_tokens = 5}).error(),
            usage_errc::mixed_shapes);
  // Responses-API cached tokens next to Anthropic cache buckets: which input is it?
  EXPECT_EQ(
      normalise_usage({.input_tokens = 5, .cache_read_input_tokens = 1, .input_cached_tokens = 1})
          .error(),
      usage_errc::mixed_shapes);
}

TEST(usage, negative_counts_are_refused) {
  EXPECT_EQ(parse_usage_json(R"({"input_tokens":-1})").error(), usage_errc::negative);
  EXPECT_EQ(parse_usage_json(R"({"usage":{"completion_tokens":-5}})").error(),
            usage_errc::negative);
  EXPECT_EQ(normalise_usage({.output_tokens = -2}).error(), usage_errc::negative);
  EXPECT_EQ(normalise_usage({.prompt_tokens = 5, .cached_tokens = -1}).error(),
            usage_errc::negative);
  // -0 is zero, not negative.
  auto zero = parse_usage_json(R"({"input_tokens":-0})");
  ASSERT_TRUE(zero);
  EXPECT_EQ(zero->input, 0);
}

TEST(usage, non_integer_token_values_are_refused) {
  for (const char* body :
       {R"({"input_tokens":1.5})", R"({"input_tokens":"12"})", R"({"input_tokens":1e3})",
        R"({"input_tokens":12.0})", R"({"output_tokens":true})", R"({"output_tokens":[1]})",
        R"({"usage":{"cache_read_input_tokens":{"n":1}}})"}) {
    auto t = parse_usage_json(body);
    ASSERT_FALSE(t) << body;
    EXPECT_EQ(t.error(), usage_errc::not_an_integer) << body;
  }
  EXPECT_NE(make_error_code(usage_errc::not_an_integer).message().find("integer"),
            std::string::npos);
}

TEST(usage, null_counts_as_absent) {
  auto t = parse_usage_json(R"({"input_tokens":7,"cache_read_input_tokens":null})");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, (token_counts{.input = 7}));
}

TEST(usage, out_of_range_is_overflow) {
  EXPECT_EQ(parse_usage_json(R"({"input_tokens":9223372036854775808})").error(),
            usage_errc::overflow);
  auto max = parse_usage_json(R"({"input_tokens":9223372036854775807})");
  ASSERT_TRUE(max);
  EXPECT_EQ(max->input, std::numeric_limits<std::int64_t>::max());
  // Each count fits, the total does not.
  EXPECT_EQ(parse_usage_json(R"({"input_tokens":9223372036854775807,"output_tokens":1})").error(),
            usage_errc::overflow);
}

TEST(usage, fields_in_two_places_are_refused) {
  EXPECT_EQ(parse_usage_json(R"({"input_tokens":1,"usage":{"output_tokens":2}})").error(),
            usage_errc::duplicate_field);
  EXPECT_EQ(parse_usage_json(R"({"input_tokens":1,"input_tokens":2})").error(),
            usage_errc::duplicate_field);
  // Fields of the surrounding report next to "usage" are fine.
  auto t = parse_usage_json(R"({"model":"gpt-4o","cost_usd":0.5,"usage":{"prompt_tokens":3}})");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, (token_counts{.input = 3}));
}

TEST(usage, malformed_documents_are_syntax_errors) {
  for (const char* body : {"", "[1,2]", "42", "{", R"({"input_tokens":1} x)", R"({"usage":"lots"})",
                           R"({"prompt_tokens_details":[1]})"}) {
    auto t = parse_usage_json(body);
    ASSERT_FALSE(t) << body;
    EXPECT_EQ(t.error(), usage_errc::syntax) << body;
  }
}

TEST(usage, empty_usage_is_zero) {
  auto t = parse_usage_json(R"({"cost_usd":0.012})");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, token_counts{});
  EXPECT_EQ(t->total(), 0);
}

TEST(usage, raw_fields_are_reported_before_normalisation) {
  auto raw = parse_usage_fields_json(
      R"({"usage":{"prompt_tokens":9,"prompt_tokens_details":{"cached_tokens":4}}})");
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->prompt_tokens, 9);
  EXPECT_EQ(raw->cached_tokens, 4);
  EXPECT_FALSE(raw->input_tokens.has_value());
}

TEST(usage, total_saturates_on_hand_built_values) {
  token_counts t{.input = std::numeric_limits<std::int64_t>::max(), .output = 1};
  EXPECT_EQ(t.total(), std::numeric_limits<std::int64_t>::max());
}

}  // namespace
}  // namespace tally
