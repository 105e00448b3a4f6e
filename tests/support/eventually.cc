#include "tests/support/eventually.h"

#include <thread>

namespace tally::test {

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds deadline,
                std::chrono::milliseconds interval) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return pred();
    std::this_thread::sleep_for(interval);  // the polling interval of the condition
  }
  return true;
}

}  // namespace tally::test
