// Test support: waiting for a condition on state a test can only poll (the API, a topic, the
// store), bounded by a deadline.
// Thread-safety: a free function; pred runs on the calling thread.
#pragma once

#include <chrono>
#include <functional>

namespace tally::test {

// Calls pred until it holds (true) or the deadline passes (false, after one last call), waiting
// `interval` between calls.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds deadline,
                std::chrono::milliseconds interval = std::chrono::milliseconds(100));

}  // namespace tally::test
