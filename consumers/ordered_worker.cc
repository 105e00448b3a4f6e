#include "consumers/ordered_worker.h"

#include <pthread.h>

#include <exception>
#include <utility>

#include <spdlog/spdlog.h>

#include "consumers/thread_priority.h"

namespace tally {

ordered_worker::ordered_worker(std::string thread_name, int nice)
    : name_(std::move(thread_name)), nice_(nice), thread_([this] { run(); }) {}

ordered_worker::~ordered_worker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  thread_.join();
}

std::uint64_t ordered_worker::post(std::function<void()> task) {
  std::unique_lock lock(mu_);
  tasks_.push_back(std::move(task));
  const auto n = ++posted_;
  // A busy thread takes the task when it is done with the ones before: no wake-up needed.
  const bool wake = sleeping_;
  lock.unlock();
  if (wake) work_cv_.notify_one();
  return n;
}

std::uint64_t ordered_worker::posted() const {
  std::lock_guard lock(mu_);
  return posted_;
}

bool ordered_worker::idle() const {
  std::lock_guard lock(mu_);
  return done_ == posted_;
}

void ordered_worker::wait_until(std::uint64_t n) {
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return done_ >= n; });
}

void ordered_worker::run() {
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
  if (!lower_thread_priority(nice_)) spdlog::warn("{}: cannot lower its CPU priority", name_);
  std::deque<std::function<void()>> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      sleeping_ = true;
      work_cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
      sleeping_ = false;
      if (tasks_.empty()) return;  // stopping, and everything posted has run
      batch.swap(tasks_);
    }
    for (auto& task : batch) {
      try {
        task();
      } catch (const std::exception& e) {
        spdlog::error("{}: a task threw: {}", name_, e.what());
      } catch (...) {
        spdlog::error("{}: a task threw", name_);
      }
      task = nullptr;  // what it holds goes now, not with the whole batch
      {
        std::lock_guard lock(mu_);
        ++done_;
      }
      done_cv_.notify_all();
    }
    batch.clear();
  }
}

}  // namespace tally
