#include "projections/keys.h"

#include <cstring>

namespace tally {
namespace {

constexpr std::int64_t totals::*fields[] = {
    &totals::cost_nanos,    &totals::rejected_cost_nanos,   &totals::input_tokens,
    &totals::output_tokens, &totals::cache_creation_tokens, &totals::cache_read_tokens,
    &totals::events,        &totals::rejected_events,       &totals::unpriced_events,
};
static_assert(sizeof(fields) / sizeof(fields[0]) * 8 == totals_encoded_size);

void put_le(std::string& out, std::int64_t v) {
  auto u = static_cast<std::uint64_t>(v);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
}

std::int64_t get_le(const char* p) {
  std::uint64_t u = 0;
  for (int i = 7; i >= 0; --i) u = (u << 8) | static_cast<unsigned char>(p[i]);
  return static_cast<std::int64_t>(u);
}

}  // namespace

std::string encode_totals(const totals& t) {
  std::string out;
  out.reserve(totals_encoded_size);
  for (auto f : fields) put_le(out, t.*f);
  return out;
}

bool decode_totals(std::string_view bytes, totals& out) {
  if (bytes.size() != totals_encoded_size) return false;
  for (std::size_t i = 0; i < std::size(fields); ++i) out.*fields[i] = get_le(bytes.data() + 8 * i);
  return true;
}

std::string encode_i64(std::int64_t v) {
  std::string out;
  put_le(out, v);
  return out;
}

bool decode_i64(std::string_view bytes, std::int64_t& out) {
  if (bytes.size() != 8) return false;
  out = get_le(bytes.data());
  return true;
}

std::string escape_component(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '%')
      out += "%25";
    else if (c == '/')
      out += "%2F";
    else
      out.push_back(c);
  }
  return out;
}

std::string totals_key(std::string_view scope, char window, std::string_view period) {
  std::string k;
  k.reserve(scope.size() + period.size() + 4);
  k.append(scope);
  k.push_back('/');
  k.push_back(window);
  k.push_back('/');
  k.append(period);
  return k;
}

}  // namespace tally
