// The append thread's executor: tasks run one at a time in the order they were posted (from any
// thread), wait_until(n) waits for the first n and no more, idle() only once all have run, a task
// that throws does not stop the ones after it, and the destructor runs everything posted before it.
#include "consumers/ordered_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace tally {
namespace {

TEST(ordered_worker, runs_tasks_in_the_order_they_were_posted_from_any_thread) {
  std::mutex mu;
  std::vector<std::uint64_t> ran;  // task numbers, in the order they ran
  std::vector<std::vector<std::uint64_t>> given(4);
  {
    ordered_worker w("test-ordered");
    std::vector<std::thread> posters;
    for (int t = 0; t < 4; ++t) {
      posters.emplace_back([&, t] {
        for (int k = 0; k < 2'000; ++k) {
          // The number is known once posted: the task reads it from a promise.
          auto number = std::make_shared<std::promise<std::uint64_t>>();
          auto known = number->get_future().share();
          given[t].push_back(w.post([&, known] {
            std::lock_guard lock(mu);
            ran.push_back(known.get());
          }));
          number->set_value(given[t].back());
        }
      });
    }
    for (auto& p : posters) p.join();
    EXPECT_EQ(w.posted(), 8'000u);
    w.wait_until(8'000);
    std::lock_guard lock(mu);
    ASSERT_EQ(ran.size(), 8'000u);
  }
  // Every number once, in increasing order: the order of posting, whoever posted.
  for (std::size_t i = 0; i < ran.size(); ++i) EXPECT_EQ(ran[i], i + 1) << "at " << i;
  for (auto& g : given) {
    for (std::size_t i = 1; i < g.size(); ++i) EXPECT_LT(g[i - 1], g[i]);
  }
}

TEST(ordered_worker, wait_until_waits_for_the_first_n_tasks_only) {
  ordered_worker w("test-ordered");
  std::atomic<int> first{0};
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<bool> second_done{false};
  const auto a = w.post([&] { first = 1; });
  const auto b = w.post([&, released] {
    released.wait();
    second_done = true;
  });
  EXPECT_EQ(a, 1u);
  EXPECT_EQ(b, 2u);
  w.wait_until(a);  // returns although task 2 is blocked
  EXPECT_EQ(first.load(), 1);
  EXPECT_FALSE(second_done.load());
  EXPECT_FALSE(w.idle());
  release.set_value();
  w.wait_until(b);
  EXPECT_TRUE(second_done.load());
  EXPECT_TRUE(w.idle());
  w.wait_until(0);  // nothing to wait for
}

TEST(ordered_worker, a_task_that_throws_is_counted_and_the_next_ones_run) {
  ordered_worker w("test-ordered");
  std::atomic<int> after{0};
  w.post([] { throw std::runtime_error("boom"); });
  const auto n = w.post([&] { ++after; });
  w.wait_until(n);
  EXPECT_EQ(after.load(), 1);
}

TEST(ordered_worker, the_destructor_runs_what_was_posted_before_it) {
  std::atomic<int> count{0};
  std::promise<void> release;
  auto released = release.get_future().share();
  {
    ordered_worker w("test-ordered");
    // The first task holds the thread until just before the destructor: most runs destroy the
    // worker with the others still queued.
    w.post([released] { released.wait(); });
    for (int i = 0; i < 100; ++i) w.post([&] { ++count; });
    release.set_value();
  }
  EXPECT_EQ(count.load(), 100);
}

}  // namespace
}  // namespace tally
