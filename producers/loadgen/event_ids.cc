#include "producers/loadgen/event_ids.h"

namespace tally::loadgen {
namespace {

// splitmix64's finaliser: a bijection of 64-bit words.
std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

void append_random_event_id(std::string& out, std::uint64_t seed, std::uint64_t connection,
                            std::uint64_t sequence) {
  // Distinct (connection, sequence) are distinct words before the mix, so after it too.
  const std::uint64_t a = mix(seed ^ (connection << 44) ^ sequence);
  static constexpr char hex[] = "0123456789abcdef";
  for (std::uint64_t w : {a, mix(a)}) {
    for (int i = 60; i >= 0; i -= 4) out += hex[(w >> i) & 15];
  }
}

}  // namespace tally::loadgen
