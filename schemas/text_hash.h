// A fast 64-bit hash of text: XXH3 (Debian's libxxhash), whose output is specified and stable
// since xxHash 0.8.0, so a value may be kept (a usage report's request fingerprint is). It keys
// every in-memory map of the state (string_hash) and is the print by which the owner knows its
// own batch records again. Not a cryptographic hash.
// Thread-safety: a pure function.
#pragma once

#include <cstdint>
#include <string_view>

namespace tally {

std::uint64_t text_hash(std::string_view text) noexcept;

}  // namespace tally
