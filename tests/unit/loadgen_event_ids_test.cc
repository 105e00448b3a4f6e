// tally-loadgen's --random-event-ids: 32 hex digits, every (connection, sequence) of a run its
// own id, another run (seed) other ids, the same inputs the same id.
#include "producers/loadgen/event_ids.h"

#include <gtest/gtest.h>

#include <string>
#include <unordered_set>

namespace tally::loadgen {
namespace {

std::string id(std::uint64_t seed, std::uint64_t connection, std::uint64_t sequence) {
  std::string out;
  append_random_event_id(out, seed, connection, sequence);
  return out;
}

TEST(loadgen_event_ids, random_ids_are_32_hex_digits_distinct_per_connection_and_sequence) {
  std::unordered_set<std::string> seen;
  for (std::uint64_t c = 0; c < 64; ++c) {
    for (std::uint64_t s = 0; s < 2'000; ++s) {
      auto e = id(42, c, s);
      ASSERT_EQ(e.size(), 32u);
      ASSERT_EQ(e.find_first_not_of("0123456789abcdef"), std::string::npos) << e;
      ASSERT_TRUE(seen.insert(e).second) << "connection " << c << " sequence " << s;
    }
  }
  EXPECT_EQ(id(42, 3, 7), id(42, 3, 7));
  EXPECT_NE(id(42, 3, 7), id(43, 3, 7));
  // Appended: what is in the buffer stays.
  std::string body = "x";
  append_random_event_id(body, 42, 3, 7);
  EXPECT_EQ(body, "x" + id(42, 3, 7));
  // Not ordered like the sequence: consecutive events land apart in a sorted index.
  int ascending = 0;
  for (std::uint64_t s = 0; s < 100; ++s) ascending += id(42, 0, s) < id(42, 0, s + 1);
  EXPECT_GT(ascending, 20);
  EXPECT_LT(ascending, 80);
}

}  // namespace
}  // namespace tally::loadgen
