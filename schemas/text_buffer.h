// Writers of text through put (as it is) and num (a decimal integer): text_buffer into a buffer the
// caller made sure is large enough (put does not check), for the hot paths' rows and canonical
// texts put together on the stack and copied once; text_string into a string, for the rest.
// Thread-safety: one per writer.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace tally {

struct text_buffer {
  char* p;
  char* end;
  void put(std::string_view x) {
    std::memcpy(p, x.data(), x.size());
    p += x.size();
  }
  void num(std::int64_t v) { p = std::to_chars(p, end, v).ptr; }
};

struct text_string {
  std::string& s;
  void put(std::string_view x) { s.append(x); }
  void num(std::int64_t v) {
    char digits[24];
    s.append(digits, std::to_chars(digits, digits + sizeof digits, v).ptr);
  }
};

}  // namespace tally
