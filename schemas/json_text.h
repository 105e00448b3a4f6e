// JSON text written directly into a string: string literals escaped exactly as Boost.JSON's
// serializer escapes them, and integers. For the hot encoders (events, answers) that would
// otherwise build a Boost.JSON value only to serialize it.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tally {

// Appends the inside of a JSON string literal for s ('"', '\\' and control characters escaped,
// short forms where JSON has them; UTF-8 as it is).
void append_json_escaped(std::string& out, std::string_view s);
// Appends "s" with its quotes.
void append_json_string(std::string& out, std::string_view s);
void append_json_int(std::string& out, std::int64_t v);

}  // namespace tally
