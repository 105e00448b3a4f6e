// A thread that runs posted tasks one at a time, in the order they were posted, and counts
// them: wait_until(n) returns once the first n tasks have run. The partition owner hands its
// appends to one (encoding and producing them), so the thread that decided them goes on to the
// next request while they are written, and the log keeps the order they were decided in.
// Tasks must not throw (one that does is logged and counted as run). The destructor runs what
// was posted before it, then stops.
// Thread-safety: every member may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace tally {

class ordered_worker {
 public:
  // nice: how many levels below the process's CPU priority the thread runs (thread_priority.h).
  explicit ordered_worker(std::string thread_name, int nice = 0);
  ~ordered_worker();
  ordered_worker(const ordered_worker&) = delete;
  ordered_worker& operator=(const ordered_worker&) = delete;

  // Queues task; returns its number (the first is 1).
  std::uint64_t post(std::function<void()> task);
  // Tasks posted so far.
  std::uint64_t posted() const;
  // Every task posted so far has run (none waits or runs).
  bool idle() const;
  // Blocks until tasks 1..n have run.
  void wait_until(std::uint64_t n);

 private:
  void run();

  const std::string name_;
  const int nice_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // the thread waits for tasks
  std::condition_variable done_cv_;  // wait_until waits for the thread
  std::deque<std::function<void()>> tasks_;
  std::uint64_t posted_ = 0;
  std::uint64_t done_ = 0;
  bool sleeping_ = true;  // the thread waits on work_cv_ (a post must wake it)
  bool stop_ = false;
  std::thread thread_;  // last: starts once the rest is built
};

}  // namespace tally
