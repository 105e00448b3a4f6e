#include "consumers/store_writer.h"

#include <pthread.h>

#include <stdexcept>

#include <spdlog/spdlog.h>

#include "consumers/thread_priority.h"

namespace tally {

store_writer::store_writer(ledger_store& store, std::function<void(job&)> done, int nice)
    : store_(store), done_(std::move(done)), nice_(nice), thread_([this] { run(); }) {}

store_writer::~store_writer() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !busy_; });
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void store_writer::submit(job j) {
  wait();
  {
    std::lock_guard lock(mu_);
    next_ = std::move(j);
    busy_ = true;
  }
  cv_.notify_all();
}

void store_writer::wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !busy_; });
  if (!error_.empty()) throw std::runtime_error("store write failed: " + error_);
}

bool store_writer::idle() const {
  std::lock_guard lock(mu_);
  return !busy_;
}

void store_writer::run() {
  pthread_setname_np(pthread_self(), "tally-writer");
  if (!lower_thread_priority(nice_)) spdlog::warn("tally-writer: cannot lower its CPU priority");
  for (;;) {
    job j;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || next_.has_value(); });
      if (!next_) return;
      j = std::move(*next_);
      next_.reset();
    }
    std::string error;
    try {
      // The WriteBatch is built (its rows sorted) while before_write waits.
      auto s = store_.write(*j.batch, j.before_write);
      if (!s.ok()) error = s.ToString();
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (error.empty() && done_) done_(j);
    {
      std::lock_guard lock(mu_);
      if (!error.empty() && error_.empty()) error_ = error;
      busy_ = false;
    }
    cv_.notify_all();
  }
}

}  // namespace tally
