// A fast 64-bit hash of text: XXH3 (Debian's libxxhash-dev, used header-only), whose output is
// specified and stable since xxHash 0.8.0, so a value may be kept (a usage report's request
// fingerprint is). It keys every in-memory map of the state (string_hash) and is the print by
// which the owner knows its own batch records again. Not a cryptographic hash. Inlined where it
// is called (most calls hash a short map key) rather than called in the shared library.
// Thread-safety: a pure function.
#pragma once

#include <cstdint>
#include <string_view>

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

namespace tally {

inline std::uint64_t text_hash(std::string_view text) noexcept {
  return XXH3_64bits(text.data(), text.size());
}

}  // namespace tally
