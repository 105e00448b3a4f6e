// What tally-loadgen reads of a usage:batch answer: the "accepted" and "refused" counts that open
// it ({"accepted":N,"refused":M,...}, as api/handlers_sessions.cc writes it), without parsing
// the per-item results. Thread-safety: a pure function.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

namespace tally::loadgen {

// {accepted, refused}; zeros when the answer does not open with them.
std::pair<std::uint64_t, std::uint64_t> batch_counts(std::string_view body);

}  // namespace tally::loadgen
