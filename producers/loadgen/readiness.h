// Waiting for the server to be ready before loading it: `tally serve` answers as soon as it is up,
// but writes get 503 until its partitions are assigned and folded up to date, which its /readyz
// tells. A server without /readyz (404) counts as ready. Thread-safety: a pure function of its
// arguments.
#pragma once

#include <functional>

namespace tally::loadgen {

struct ready_wait {
  bool ready = false;
  int probes = 0;       // /readyz requests made
  int last_status = 0;  // of the last one; 0: no answer
};

// Calls probe() (/readyz's HTTP status, 0 for no answer) until it gives 200 or 404, at most
// max_probes times, calling pause() between two probes.
ready_wait wait_ready(const std::function<int()>& probe, int max_probes,
                      const std::function<void()>& pause);

}  // namespace tally::loadgen
