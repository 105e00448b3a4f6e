// What the owner's store writes wait for: per partition, the acks of the events handed to the
// producer before a batch was drained.
#include "consumers/ack_tracker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace tally {
namespace {

TEST(ack_tracker, a_wait_ends_when_every_partition_reaches_its_target) {
  ack_tracker acks;
  acks.resize(3);
  acks.produced(0);
  acks.produced(0);
  acks.produced(2);
  const auto target = acks.produced_counts();
  EXPECT_EQ(target, (std::vector<std::int64_t>{2, 0, 1}));
  acks.produced(1);  // after the target: not waited for
  std::atomic<int> result{-1};
  std::thread waiter([&] { result = acks.wait(target) ? 1 : 0; });
  acks.delivered(0, true);
  acks.delivered(2, true);
  acks.delivered(0, true);
  waiter.join();
  EXPECT_EQ(result, 1);
  EXPECT_FALSE(acks.failed());
  EXPECT_TRUE(acks.wait({0, 0, 0}));
}

TEST(ack_tracker, a_failed_delivery_ends_every_wait_with_false) {
  ack_tracker acks;
  acks.resize(2);
  acks.produced(0);
  acks.produced(1);
  const auto target = acks.produced_counts();
  std::atomic<int> result{-1};
  std::thread waiter([&] { result = acks.wait(target) ? 1 : 0; });
  acks.delivered(0, true);
  acks.delivered(1, false);
  waiter.join();
  EXPECT_EQ(result, 0);
  EXPECT_TRUE(acks.failed());
  EXPECT_FALSE(acks.wait({0, 0}));  // the state is wrong from then on
}

}  // namespace
}  // namespace tally
