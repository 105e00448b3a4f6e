// SHA-256 as lowercase hex: API key hashes, request fingerprints of old events, and the short
// content-derived ids (price versions, alert rules, control events, insight dismissals), which
// take a prefix of it. Thread-safety: any thread (the digest context is per thread).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tally {

// The first hex_digits (at most 64) hex digits of SHA-256(data); throws std::runtime_error when
// OpenSSL fails (it cannot for SHA-256 unless the library is broken).
std::string sha256_hex(std::string_view data, std::size_t hex_digits = 64);

}  // namespace tally
