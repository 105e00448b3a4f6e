// The `data` object of a decided usage event written straight into the event's text: the hot
// path of every append (one per usage report), the same bytes as the Boost.JSON encoder of
// the other payloads writes (the codec test holds the two together).
// Thread-safety: pure function.
#pragma once

#include <string>

#include "schemas/events.h"

namespace tally {

void append_usage_data(std::string& out, const usage_decided& e);

}  // namespace tally
