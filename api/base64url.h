// Base64url without padding (RFC 4648 section 5), as JWTs and API key secrets use it; the
// block coding is OpenSSL's, only the alphabet and padding are adapted here.
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tally::api {

std::string base64url_encode(std::string_view bytes);

// nullopt unless `text` is canonical unpadded base64url: alphabet [A-Za-z0-9_-] only, a
// length that is not 1 mod 4, and zero unused bits in the last character.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace tally::api
