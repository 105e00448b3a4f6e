#include "producers/loadgen/batch_answer.h"

#include <charconv>

namespace tally::loadgen {

std::pair<std::uint64_t, std::uint64_t> batch_counts(std::string_view body) {
  auto number_after = [&](std::string_view key) -> std::uint64_t {
    const auto at = body.substr(0, 128).find(key);
    if (at == std::string_view::npos) return 0;
    std::uint64_t n = 0;
    const char* p = body.data() + at + key.size();
    std::from_chars(p, body.data() + body.size(), n);
    return n;
  };
  return {number_after("\"accepted\":"), number_after("\"refused\":")};
}

}  // namespace tally::loadgen
