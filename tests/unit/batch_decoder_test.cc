// The fold's decoder: every ledger record of a batch comes out as decode_ledger_record gives it, in
// order, whoever (helper or owner) decoded its chunk; records that are not to be decoded are
// left alone; the helper takes large batches and leaves small ones to the owner.
#include "consumers/batch_decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/usage_events.h"

namespace tally {
namespace {

event usage(int i) {
  event e = testing::usage_event(i);
  auto& u = std::get<usage_recorded>(e.payload);
  u.agent = agent_id{"eng-" + std::to_string(i % 7)};
  u.tokens.input = i;
  return e;
}

// One event, a batch of three now and then, a malformed record now and then.
std::string record(int i) {
  if (i % 97 == 13) return "{\"specversion\": \"1.0\", \"type\": ";  // malformed
  if (i % 5 == 2) return encode_event_batch({usage(i), usage(i + 100'000), usage(i + 200'000)});
  return encode_event(usage(i));
}

// Decodes batches of the given sizes through one decoder and checks each record against
// decode_ledger_record. Every eleventh record is "another topic's": never decoded.
void check_batches(batch_decoder& d, const std::vector<std::size_t>& sizes) {
  int next = 0;
  for (auto n : sizes) {
    std::vector<std::string> texts;
    std::vector<batch_decoder::item> items;
    for (std::size_t i = 0; i < n; ++i) texts.push_back(record(next++));
    for (std::size_t i = 0; i < n; ++i) items.push_back({texts[i], i % 11 != 5});
    d.start(items);
    for (std::size_t i = 0; i < n; ++i) {
      if (!items[i].decode) continue;
      auto& got = d.get(i);
      auto want = decode_ledger_record(texts[i]);
      ASSERT_EQ(got.has_value(), want.has_value()) << "record " << i << " of " << n;
      if (want) {
        ASSERT_EQ(got->size(), want->size()) << "record " << i << " of " << n;
        for (std::size_t k = 0; k < want->size(); ++k) {
          EXPECT_EQ(encode_event((*got)[k]), encode_event((*want)[k])) << "record " << i;
        }
      } else {
        EXPECT_EQ(got.error(), want.error());
      }
      auto moved = std::move(got);  // the fold moves the event out
      (void)moved;
    }
    d.finish();
  }
}

TEST(batch_decoder, every_record_comes_out_as_decode_ledger_record_gives_it_in_order) {
  batch_decoder d;
  check_batches(d, {2000, 1, 0, 31, 32, 33, 127, 128, 129, 2000, 1777, 5000, 64});
}

TEST(batch_decoder, the_helper_decodes_large_batches_and_leaves_small_ones) {
  batch_decoder d;
  check_batches(d, std::vector<std::size_t>(40, batch_decoder::helper_threshold - 1));
  EXPECT_EQ(d.helped_chunks(), 0u);
  // With 50 batches of 2,000 records the helper takes part at least once (the owner checks
  // every record, so it cannot outrun it on every chunk of every batch).
  check_batches(d, std::vector<std::size_t>(50, 2000));
  EXPECT_GT(d.helped_chunks(), 0u);
}

TEST(batch_decoder, a_batch_left_early_is_withdrawn_and_the_next_one_is_whole) {
  batch_decoder d;
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> texts;
    std::vector<batch_decoder::item> items;
    for (int i = 0; i < 1000; ++i) texts.push_back(record(i));
    for (auto& t : texts) items.push_back({t, true});
    d.start(items);
    // Only the first records are taken (as when a fold stops mid-batch); finish() returns with
    // the helper out of the batch, so the texts may be freed.
    ASSERT_TRUE(d.get(0).has_value());
    d.finish();
  }
  check_batches(d, {1000});
}

}  // namespace
}  // namespace tally
