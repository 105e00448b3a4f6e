// Well-formed UTF-8 (RFC 3629: no overlong forms, no UTF-16 surrogates, nothing above
// U+10FFFF), shared by the JSON guard's check of request bodies and the problem bodies' text.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tally::api {

// The length (1-4) of the well-formed sequence that starts text[i], or 0 when none does.
std::size_t utf8_sequence_length(std::string_view text, std::size_t i);

// text with every byte that does not begin or continue a well-formed sequence replaced by
// U+FFFD, so a detail that quotes the request (a path, a query value) stays valid JSON.
std::string valid_utf8(std::string_view text);

}  // namespace tally::api
