#include "consumers/thread_priority.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace tally {

int thread_nice() {
  errno = 0;
  const int n = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  return errno == 0 ? n : 0;
}

bool lower_thread_priority(int delta) {
  if (delta <= 0) return true;
  const int target = std::min(19, thread_nice() + delta);
  return setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), target) == 0;
}

}  // namespace tally
