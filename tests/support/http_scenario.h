// One end-to-end HTTP scenario: a temp dir, fresh topics (created, leaders waited for) and a
// fresh consumer group on the suite's broker, the first admin key in TALLY_ADMIN_KEY, and
// `serve()` that starts the real `tally serve` and returns once it answers /readyz. The dir is
// kept when the test failed.
// Thread-safety: one per test.
#pragma once

#include <memory>
#include <string>

#include "consumers/control.h"
#include "tests/support/tally_process.h"

namespace tally::test {

struct http_scenario {
  std::string dir;
  tally_options o;
  topic_names topics;  // with the scenario's prefix
  int logs = 0;

  http_scenario(const std::string& name, const std::string& admin_key);
  ~http_scenario();
  // Starts `tally serve` and waits until it serves and has caught up; nullptr (and a test
  // failure with the log) when it does not within a minute.
  std::unique_ptr<tally_process> serve();
};

}  // namespace tally::test
