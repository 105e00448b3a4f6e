#include "schemas/text_hash.h"

#include <xxhash.h>

namespace tally {

std::uint64_t text_hash(std::string_view text) noexcept {
  return XXH3_64bits(text.data(), text.size());
}

}  // namespace tally
