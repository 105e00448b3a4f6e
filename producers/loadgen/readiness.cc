#include "producers/loadgen/readiness.h"

namespace tally::loadgen {

ready_wait wait_ready(const std::function<int()>& probe, int max_probes,
                      const std::function<void()>& pause) {
  ready_wait w;
  while (w.probes < max_probes) {
    if (w.probes > 0) pause();
    w.last_status = probe();
    ++w.probes;
    if (w.last_status == 200 || w.last_status == 404) {
      w.ready = true;
      break;
    }
  }
  return w;
}

}  // namespace tally::loadgen
