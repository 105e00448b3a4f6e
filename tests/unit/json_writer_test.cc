// The answer writer: strings escaped byte for byte as Boost.JSON's serializer escapes them
// (every byte value, in keys, values and money keys), integers at their limits, and commas.
#include "api/json_writer.h"

#include <limits>
#include <random>

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace tally::api {
namespace {

std::string boost_quoted(std::string_view s) {
  return boost::json::serialize(boost::json::string(s));
}

TEST(json_writer, escapes_every_byte_as_boost_json_does) {
  for (int c = 0; c < 256; ++c) {
    const std::string s = std::string("a") + static_cast<char>(c) + "b";
    json_writer w;
    w.begin_object().field(s, s).money(s, nanos{1}).end_object();
    const std::string q = boost_quoted(s);
    const std::string qu = boost_quoted(s + "_usd");
    const std::string qn = boost_quoted(s + "_nanos");
    EXPECT_EQ(w.str(), "{" + q + ":" + q + "," + qu + ":0.000000001," + qn + ":1}") << c;
  }
}

TEST(json_writer, random_strings_match_boost_json_and_parse_back) {
  std::mt19937 rng(20261201);  // fixed seed
  std::uniform_int_distribution<int> len(0, 40), byte(0, 127);
  for (int i = 0; i < 5'000; ++i) {
    std::string s(static_cast<std::size_t>(len(rng)), ' ');
    for (auto& ch : s) ch = static_cast<char>(byte(rng));
    json_writer w;
    w.begin_array().string(s).end_array();
    ASSERT_EQ(w.str(), "[" + boost_quoted(s) + "]");
    ASSERT_EQ(boost::json::parse(w.str()).as_array().at(0).as_string(), s);
  }
}

TEST(json_writer, integers_and_commas) {
  json_writer w;
  w.begin_object()
      .field("min", std::numeric_limits<std::int64_t>::min())
      .field("max", std::numeric_limits<std::int64_t>::max())
      .field("zero", 0)
      .key("list")
      .begin_array()
      .integer(-1)
      .null()
      .boolean(true)
      .begin_object()
      .end_object()
      .end_array()
      .money("none", std::nullopt)
      .end_object();
  EXPECT_EQ(w.str(), R"({"min":-9223372036854775808,"max":9223372036854775807,"zero":0,)"
                     R"("list":[-1,null,true,{}],"none_usd":null,"none_nanos":null})");
}

}  // namespace
}  // namespace tally::api
