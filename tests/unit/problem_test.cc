// Problem bodies stay valid JSON whatever request text their detail quotes.
#include "api/problem.h"
#include "api/utf8.h"

#include <string>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace tally::api {
namespace {

const std::string replacement = "\xEF\xBF\xBD";

TEST(valid_utf8, keeps_well_formed_text) {
  for (std::string s : {"", "plain", "caf\xC3\xA9", "\xE2\x82\xAC 5", "\xF0\x9F\x98\x80",
                        "\xED\x9F\xBF", "\xF4\x8F\xBF\xBF"}) {
    EXPECT_EQ(valid_utf8(s), s);
  }
}

TEST(valid_utf8, replaces_each_byte_that_is_not_part_of_a_sequence) {
  EXPECT_EQ(valid_utf8("ap&end\xEC"
                       "corded"),
            "ap&end" + replacement + "corded");
  EXPECT_EQ(valid_utf8("\xC0\xAF"), replacement + replacement);                    // overlong '/'
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), replacement + replacement + replacement);  // surrogate
  EXPECT_EQ(valid_utf8("\xF4\x90\x80\x80"),
            replacement + replacement + replacement + replacement);     // above U+10FFFF
  EXPECT_EQ(valid_utf8("x\xE2\x82"), "x" + replacement + replacement);  // cut short
  EXPECT_EQ(valid_utf8("\xFF"
                       "a"),
            replacement + "a");
}

TEST(problem, a_detail_quoting_bytes_that_are_not_utf8_is_still_json) {
  // What the fuzzer sent: GET /ap&end%ecorded... -> "the dashboard has no file ap&end\xEC...".
  auto res = problem(http::status::not_found, "not_found", "Not found",
                     "the dashboard has no file ap&end\xEC"
                     "corded&st=2026-11-3$0");
  boost::system::error_code ec;
  auto v = boost::json::parse(res.body(), ec);
  ASSERT_FALSE(ec) << res.body();
  EXPECT_EQ(v.at("detail").as_string(),
            "the dashboard has no file ap&end" + replacement + "corded&st=2026-11-3$0");
  EXPECT_EQ(v.at("status").as_int64(), 404);
}

}  // namespace
}  // namespace tally::api
