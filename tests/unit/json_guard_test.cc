// The JSON body gate: media type (415), UTF-8 and syntax (400 invalid-json), nesting depth
// (400 json-too-deep: the parser stops at the limit; a refused body's depth is scanned to tell).
#include "api/json_guard.h"

#include <string>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace tally::api {
namespace {

http_request post(std::string body, std::string content_type = "application/json") {
  http_request req{http::verb::post, "/api/v1/usage", 11};
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

std::string slug(const std::optional<http_response>& res) {
  if (!res) return "accepted";
  std::string type(boost::json::parse(res->body()).at("type").as_string());
  return std::to_string(res->result_int()) + " " + type.substr(type.rfind('/') + 1);
}

TEST(JsonGuard, accepts_json_objects_arrays_and_scalars) {
  EXPECT_EQ(slug(check_json_body(post(R"({"team":"a","n":[1,2.5,true,null]})"))), "accepted");
  EXPECT_EQ(slug(check_json_body(post(R"([{"a":{}}])"))), "accepted");
  EXPECT_EQ(slug(check_json_body(post(" 42 "))), "accepted");
  EXPECT_EQ(slug(check_json_body(post(R"({"s":"caf\u00e9 ü 日本 🚀"})"))), "accepted");
}

TEST(JsonGuard, no_body_passes_whatever_the_content_type) {
  EXPECT_EQ(slug(check_json_body(post("", ""))), "accepted");
  EXPECT_EQ(slug(check_json_body(post("", "text/plain"))), "accepted");
}

TEST(JsonGuard, wrong_or_missing_media_type_is_415) {
  EXPECT_EQ(slug(check_json_body(post("{}", ""))), "415 unsupported-media-type");
  EXPECT_EQ(slug(check_json_body(post("{}", "text/plain"))), "415 unsupported-media-type");
  EXPECT_EQ(slug(check_json_body(post("{}", "application/x-www-form-urlencoded"))),
            "415 unsupported-media-type");
  EXPECT_EQ(slug(check_json_body(post("{}", "application/jsonx"))), "415 unsupported-media-type");
  EXPECT_EQ(slug(check_json_body(post("{}", "application/json; charset=latin1"))),
            "415 unsupported-media-type");
}

TEST(JsonGuard, json_media_type_variants_are_accepted) {
  for (auto type : {"application/json", "Application/JSON", "application/json; charset=utf-8",
                    "application/json;charset=\"UTF-8\"", " application/json ; foo=bar",
                    "application/cloudevents+json", "application/problem+json"}) {
    EXPECT_TRUE(is_json_media_type(type)) << type;
    EXPECT_EQ(slug(check_json_body(post("{}", type))), "accepted") << type;
  }
  EXPECT_FALSE(is_json_media_type("application/+json"));
  EXPECT_FALSE(is_json_media_type("text/json+xml"));
}

TEST(JsonGuard, invalid_utf8_is_400) {
  EXPECT_EQ(slug(check_json_body(post("{\"s\":\"\xff\"}"))), "400 invalid-json");
  EXPECT_EQ(slug(check_json_body(post("{\"s\":\"\xc3\"}"))), "400 invalid-json");  // truncated
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));                                         // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xe0\x80\xaf"));                                     // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // UTF-16 surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("abcdefgh\x80"));      // after an ASCII word
  EXPECT_TRUE(is_valid_utf8("abcdefghijklmnop \xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x9a\x80"));
  EXPECT_TRUE(is_valid_utf8(""));
}

TEST(JsonGuard, not_json_is_400) {
  for (auto body : {"{", "{\"a\":}", "[1,]", "{'a':1}", "{} {}", "nul", "{\"a\":1} x", "  "}) {
    EXPECT_EQ(slug(check_json_body(post(body))), "400 invalid-json") << body;
  }
}

TEST(JsonGuard, nesting_deeper_than_the_limit_is_400) {
  auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  EXPECT_EQ(slug(check_json_body(post(nested(32)))), "accepted");
  EXPECT_EQ(slug(check_json_body(post(nested(33)))), "400 json-too-deep");
  EXPECT_EQ(slug(check_json_body(post(nested(3)), 2)), "400 json-too-deep");
  EXPECT_EQ(slug(check_json_body(post(nested(2)), 2)), "accepted");
  // A million open brackets, not even closed: the parser stops at the limit.
  EXPECT_EQ(slug(check_json_body(post(std::string(1'000'000, '[')))), "400 json-too-deep");
  EXPECT_EQ(slug(check_json_body(post(std::string(500'000, '{')))), "400 json-too-deep");
  // Too deep and broken before the depth is reached: depth is still the reason given.
  EXPECT_EQ(slug(check_json_body(post("[1,,2," + nested(40)))), "400 json-too-deep");
  EXPECT_EQ(slug(check_json_body(post("[1,,2," + nested(20)))), "400 invalid-json");
}

// The scan as it first stood, one byte at a time: the reference for the faster one.
std::size_t reference_depth(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0, deepest = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    switch (text[i]) {
      case '"':
        for (++i; i < text.size() && text[i] != '"'; ++i) {
          if (text[i] == '\\') ++i;
        }
        break;
      case '[':
      case '{':
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > max_depth) return deepest;
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return deepest;
}

TEST(JsonGuard, depth_scan_agrees_with_a_byte_at_a_time_scan_on_any_text) {
  // Texts made of quotes, backslashes, brackets and letters, in every mix: runs of
  // backslashes before quotes, unterminated strings, a backslash at the very end.
  constexpr std::string_view alphabet = "\"\\\\[]{}a";
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  for (int n = 0; n < 200'000; ++n) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::string text(x % 24, ' ');
    for (auto& c : text) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      c = alphabet[x % alphabet.size()];
    }
    for (std::size_t limit : {1u, 3u, 32u}) {
      ASSERT_EQ(json_nesting_depth(text, limit), reference_depth(text, limit))
          << "text: " << text << " limit " << limit;
    }
  }
}

TEST(JsonGuard, depth_scan_ignores_brackets_in_strings_and_escapes) {
  EXPECT_EQ(json_nesting_depth(R"({"a":"[[[[{{{{","b":[1]})", 32), 2u);
  EXPECT_EQ(json_nesting_depth(R"({"a":"\"[[[[\\","b":"]]"})", 32), 1u);
  EXPECT_EQ(json_nesting_depth(R"(["\\\"[[["])", 32), 1u);
  EXPECT_EQ(json_nesting_depth("42", 32), 0u);
  // Stops at the first level past the limit.
  EXPECT_EQ(json_nesting_depth("[[[[[[", 2), 3u);
  // Brackets in strings of a body deeper in strings than allowed: accepted.
  std::string body = R"({"text":")" + std::string(100, '[') + R"("})";
  EXPECT_EQ(slug(check_json_body(post(body), 2)), "accepted");
}

TEST(JsonGuard, problem_bodies_say_what_is_wrong) {
  auto res = check_json_body(post(std::string(40, '[') + std::string(40, ']')));
  ASSERT_TRUE(res);
  EXPECT_EQ((*res)[http::field::content_type], "application/problem+json");
  auto body = boost::json::parse(res->body()).as_object();
  EXPECT_EQ(body.at("status").as_int64(), 400);
  EXPECT_EQ(body.at("max_depth").to_number<int>(), 32);
}

}  // namespace
}  // namespace tally::api
