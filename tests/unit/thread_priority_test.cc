// The pipeline threads run below the deciding threads: the append thread (ordered_worker) and
// the store writer lower their own CPU priority by the nice offset they are given, and leave it
// alone at 0; the helper never goes past 19.
#include "consumers/thread_priority.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <future>
#include <thread>

#include "consumers/ordered_worker.h"
#include "consumers/store_writer.h"
#include "tests/support/usage_events.h"

namespace tally {
namespace {

// The nice value of a thread started from this one, after it lowered itself by delta.
int nice_after(int delta) {
  int seen = -100;
  std::thread t([&] {
    EXPECT_TRUE(lower_thread_priority(delta));
    seen = thread_nice();
  });
  t.join();
  return seen;
}

TEST(thread_priority, a_thread_lowers_its_own_priority_and_no_other) {
  const int base = thread_nice();
  EXPECT_EQ(nice_after(3), std::min(19, base + 3));
  EXPECT_EQ(nice_after(0), base);
  EXPECT_EQ(nice_after(40), 19);   // clamped
  EXPECT_EQ(thread_nice(), base);  // the caller's own is untouched
}

TEST(thread_priority, the_append_thread_runs_at_the_offset_it_is_given) {
  const int base = thread_nice();
  for (int offset : {0, 4}) {
    ordered_worker w("test-nice", offset);
    std::promise<int> seen;
    w.post([&] { seen.set_value(thread_nice()); });
    EXPECT_EQ(seen.get_future().get(), std::min(19, base + offset)) << offset;
  }
}

TEST(thread_priority, the_store_writer_runs_at_the_offset_it_is_given) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("tally-nice-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const int base = thread_nice();
  {
    ledger_store store({.path = dir.string()});
    ledger_state state(&store);
    for (int offset : {0, 6}) {
      int seen = -100;
      store_writer writer(
          store, [&](const store_writer::job&) { seen = thread_nice(); }, offset);
      state.apply(testing::usage_event(offset));
      writer.submit({state.drain_batch(), {}});
      writer.wait();
      EXPECT_EQ(seen, std::min(19, base + offset)) << offset;
    }
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tally
