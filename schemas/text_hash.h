// A fast 64-bit hash of text (XXH3, from Debian's libxxhash): the key of every in-memory map
// of the state (string_hash), and the print by which the owner knows its own batch records
// again. Not stable across processes by contract, and not for anything stored.
// Thread-safety: a pure function.
#pragma once

#include <cstdint>
#include <string_view>

namespace tally {

std::uint64_t text_hash(std::string_view text) noexcept;

}  // namespace tally
