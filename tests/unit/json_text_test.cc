// The hand-written JSON string writer against Boost.JSON's serializer, which it must match byte
// for byte: random texts of the bytes that matter (controls, '"', '\\', DEL, UTF-8 sequences,
// plain ASCII) at every length around the writer's eight-byte steps.
#include "schemas/json_text.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include <boost/json.hpp>

namespace tally {
namespace {

TEST(json_text, strings_are_written_as_boost_json_writes_them) {
  std::vector<std::string> pieces = {"\"", "\\", "\x7f", "a", "Z", " ", "~", "/", "é", "€", "𝄞"};
  for (int c = 0; c < 0x20; ++c) pieces.emplace_back(1, static_cast<char>(c));
  std::mt19937 rng(20261207);
  std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
  std::uniform_int_distribution<int> len(0, 40), rare(0, 9);
  for (int n = 0; n < 100'000; ++n) {
    std::string s;
    const int k = len(rng);
    // Mostly plain text with a special byte here and there, sometimes special bytes only.
    const bool dense = rare(rng) == 0;
    for (int i = 0; i < k; ++i) s += dense || rare(rng) == 0 ? pieces[pick(rng)] : "x";
    std::string ours;
    append_json_string(ours, s);
    ASSERT_EQ(ours, boost::json::serialize(boost::json::value(boost::json::string(s))))
        << "text of " << s.size() << " bytes, sample " << n;
  }
}

TEST(json_text, a_special_byte_is_found_at_every_offset_of_a_long_text) {
  for (char special : {'"', '\\', '\n', '\x01', '\x1f'}) {
    for (std::size_t at = 0; at < 40; ++at) {
      std::string s(40, 'q');
      s[at] = special;
      std::string ours;
      append_json_escaped(ours, s);
      std::string expected = boost::json::serialize(boost::json::value(boost::json::string(s)));
      EXPECT_EQ('"' + ours + '"', expected) << "at " << at;
    }
  }
}

}  // namespace
}  // namespace tally
