// The head of an HTTP/1.x answer as bytes: the status line and the fields, as Beast's
// serializer writes them. The server sends it and the body with one gathered write: Beast's
// serializer walked its buffer sequences (buffers_cat, buffers_prefix, a variant per step) for
// about as long as a budget read's handler ran.
#pragma once

#include <string>
#include <string_view>

#include "api/http_types.h"

namespace tally::api {

// Appends "HTTP/1.x CODE REASON\r\n", each field as "Name: value\r\n", then `extra` (whole
// lines, each ending in "\r\n") and the blank line. Bodies with chunked transfer coding are not
// this function's: the server gives those to Beast's serializer.
void append_response_head(std::string& out, const http_response::header_type& head,
                          std::string_view extra = {});

}  // namespace tally::api
