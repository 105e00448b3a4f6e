// The random event ids tally-loadgen sends with --random-event-ids, as a fleet using random
// UUIDs sends them: 32 hex digits, distinct for distinct (connection, sequence) within a run.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

namespace tally::loadgen {

// Appends the id of event `sequence` (< 2^44) of connection `connection` (< 2^20) of the run
// whose seed is `seed`.
void append_random_event_id(std::string& out, std::uint64_t seed, std::uint64_t connection,
                            std::uint64_t sequence);

}  // namespace tally::loadgen
