// A simdjson on-demand parser with a reusable input buffer: a document is copied in with
// simdjson's padding after it, so once the buffer has grown, parsing allocates nothing (a
// simdjson::padded_string allocates per document). The parsed document reads the buffer: it is
// good until the next pad() on the same object.
// Thread-safety: one object per thread (callers keep them thread_local).
#pragma once

#include <string>
#include <string_view>

#include <simdjson.h>

namespace tally {

struct padded_parser {
  simdjson::ondemand::parser parser;
  std::string buffer;

  simdjson::padded_string_view pad(std::string_view json) {
    buffer.assign(json);
    buffer.resize(json.size() + simdjson::SIMDJSON_PADDING, '\0');
    return simdjson::padded_string_view(buffer.data(), json.size(), buffer.size());
  }
};

}  // namespace tally
