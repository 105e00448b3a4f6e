#include "schemas/json_text.h"

#include <array>
#include <charconv>
#include <cstring>

namespace tally {

namespace {

constexpr auto plain = [] {  // bytes that go out as they are
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 256; ++c) t[c] = c != '"' && c != '\\';
  return t;
}();

// Whether any of the 8 bytes of x needs escaping: one below 0x20, a '"' or a '\\'. Exact as a
// whole (bit tricks of "Bit Twiddling Hacks": haszero, hasless with n <= 128).
bool any_special(std::uint64_t x) {
  constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  const auto has_zero = [](std::uint64_t v) { return (v - ones) & ~v & highs; };
  const std::uint64_t below_space = (x - ones * 0x20) & ~x & highs;
  return (below_space | has_zero(x ^ (ones * '"')) | has_zero(x ^ (ones * '\\'))) != 0;
}

// The first index at or after i of a byte that needs escaping, or s.size(): eight bytes at a
// time (most text needs nothing), the last few as the string's last eight, and one by one only
// in an eight that holds one, or in a text shorter than eight.
std::size_t plain_until(std::string_view s, std::size_t i) {
  const std::size_t n = s.size();
  std::uint64_t x;
  for (; i + 8 <= n; i += 8) {
    std::memcpy(&x, s.data() + i, 8);
    if (any_special(x)) break;
  }
  if (i < n && i + 8 > n && n >= 8) {
    std::memcpy(&x, s.data() + n - 8, 8);
    if (!any_special(x)) return n;
  }
  while (i < n && plain[static_cast<unsigned char>(s[i])]) ++i;
  return i;
}

}  // namespace

void append_json_escaped(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  for (std::size_t i = 0;;) {
    const std::size_t j = plain_until(s, i);
    out.append(s.data() + i, j - i);
    if (j == s.size()) return;
    const auto c = static_cast<unsigned char>(s[j]);
    i = j + 1;
    out.push_back('\\');
    switch (c) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '\b':
        out.push_back('b');
        break;
      case '\f':
        out.push_back('f');
        break;
      case '\n':
        out.push_back('n');
        break;
      case '\r':
        out.push_back('r');
        break;
      case '\t':
        out.push_back('t');
        break;
      default:
        out.append("u00");
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
    }
  }
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  append_json_escaped(out, s);
  out.push_back('"');
}

void append_json_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

}  // namespace tally
