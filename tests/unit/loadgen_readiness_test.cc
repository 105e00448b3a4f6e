// tally-loadgen waits for /readyz before it loads a server (producers/loadgen/readiness.h).
#include "producers/loadgen/readiness.h"

#include <gtest/gtest.h>

#include <vector>

namespace tally::loadgen {
namespace {

// A server answering these statuses in turn (the last one from then on).
struct scripted {
  std::vector<int> statuses;
  int asked = 0, pauses = 0;
  int probe() {
    const auto i = static_cast<std::size_t>(asked++);
    return statuses[i < statuses.size() ? i : statuses.size() - 1];
  }
};

ready_wait run(scripted& s, int max_probes) {
  return wait_ready([&] { return s.probe(); }, max_probes, [&] { ++s.pauses; });
}

TEST(loadgen_readiness, a_server_catching_up_is_asked_again_until_it_is_ready) {
  scripted s{{0, 503, 503, 200}};  // not listening yet, then catching up, then ready
  const auto w = run(s, 100);
  EXPECT_TRUE(w.ready);
  EXPECT_EQ(w.probes, 4);
  EXPECT_EQ(s.pauses, 3);
  EXPECT_EQ(w.last_status, 200);
}

TEST(loadgen_readiness, a_ready_server_is_asked_once_without_a_pause) {
  scripted s{{200}};
  const auto w = run(s, 100);
  EXPECT_TRUE(w.ready);
  EXPECT_EQ(w.probes, 1);
  EXPECT_EQ(s.pauses, 0);
}

TEST(loadgen_readiness, a_server_without_readyz_counts_as_ready) {
  scripted s{{404}};
  EXPECT_TRUE(run(s, 100).ready);
}

TEST(loadgen_readiness, a_server_never_ready_is_given_up_after_the_last_probe) {
  scripted s{{503}};
  const auto w = run(s, 5);
  EXPECT_FALSE(w.ready);
  EXPECT_EQ(w.probes, 5);
  EXPECT_EQ(s.pauses, 4);
  EXPECT_EQ(w.last_status, 503);
}

}  // namespace
}  // namespace tally::loadgen
