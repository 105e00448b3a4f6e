// tally-loadgen's CPU readings from /proc: the stat line's utime + stime whatever the thread's
// name holds, and the CPU of each thread of a process by name.
#include "producers/loadgen/proc_cpu.h"

#include <pthread.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <ctime>
#include <thread>

namespace tally::loadgen {
namespace {

double tick() {
  return 1.0 / double(sysconf(_SC_CLK_TCK));
}

TEST(loadgen_proc_cpu, a_stat_line_gives_utime_plus_stime_whatever_the_name_holds) {
  // Fields 14 and 15 (utime 250, stime 50) come after a name with spaces and parentheses.
  EXPECT_DOUBLE_EQ(
      stat_cpu_s("4242 (rdk:broker (1) x) S 1 4242 4242 0 -1 4194368 10 0 0 0 250 50 0 0 20 0 9"),
      300 * tick());
  EXPECT_DOUBLE_EQ(stat_cpu_s("7 (tally-http) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0"), 7 * tick());
  EXPECT_EQ(stat_cpu_s(""), -1);
  EXPECT_EQ(stat_cpu_s("7 tally-http R 1"), -1);               // no name in parentheses
  EXPECT_EQ(stat_cpu_s("7 (tally-http) R 1 7 7 0 -1 0"), -1);  // cut before utime
  EXPECT_EQ(stat_cpu_s("7 (x) R 1 7 7 0 -1 0 0 0 0 0 3a 4 0"), -1);
}

double own_thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

TEST(loadgen_proc_cpu, a_named_thread_shows_the_cpu_it_spent_under_its_name) {
  std::atomic<bool> burnt{false}, done{false};
  std::thread burner([&] {
    pthread_setname_np(pthread_self(), "lg-test-burn");
    // Spends 100 ms of CPU (its own clock, not the wall's), then waits to be read.
    volatile std::uint64_t x = 0;
    while (own_thread_cpu_s() < 0.1) x = x + 1;
    burnt = true;
    while (!done) std::this_thread::yield();
  });
  while (!burnt) std::this_thread::yield();
  const auto threads = thread_cpu_s(getpid());
  const double process = process_cpu_s(getpid());
  done = true;
  burner.join();
  ASSERT_TRUE(threads.count("lg-test-burn")) << "the thread is listed by its name";
  // /proc gives utime and stime in clock ticks, each rounded down: 100 ms of CPU shows as at least
  // 100 ms less two ticks (half a tick more for the floating point).
  EXPECT_GE(threads.at("lg-test-burn"), 0.1 - 2.5 * tick());
  EXPECT_GE(process, threads.at("lg-test-burn"));
  EXPECT_GT(machine_busy_s(), 0);
  EXPECT_TRUE(thread_cpu_s(-1).empty());
  EXPECT_EQ(process_cpu_s(-1), -1);
}

}  // namespace
}  // namespace tally::loadgen
