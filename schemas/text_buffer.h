// Text written into a buffer the caller made sure is large enough (put does not check): the hot
// paths' rows and canonical texts, put together on the stack and copied once.
// Thread-safety: one per writer.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
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

}  // namespace tally
