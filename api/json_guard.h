// The gate a JSON request body passes before any handler parses it: media type, UTF-8, nesting
// depth and JSON syntax. A recursive parser after it never sees a deep document.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "api/http_types.h"

namespace tally::api {

// The default nesting limit: `[]` and `{}` are depth 1; a scalar is depth 0.
inline constexpr std::size_t default_json_depth = 32;

// nullopt when the request may go on: no body at all, or a body that is JSON. Otherwise the
// problem answer to send:
//   415 unsupported-media-type  a body whose Content-Type is not application/json (or a
//                               "+json" type), or whose charset is not UTF-8;
//   400 invalid-json            not UTF-8, or not one JSON text;
//   400 json-too-deep           arrays/objects nested deeper than max_depth.
// Whether a body is required is the handler's business.
std::optional<http_response> check_json_body(const http_request& req,
                                             std::size_t max_depth = default_json_depth);

// The parts, for callers that hold a body without a request.
bool is_json_media_type(std::string_view content_type);
bool is_valid_utf8(std::string_view text);
// The deepest nesting of arrays and objects, ignoring brackets inside strings; stops counting
// (and returns max_depth + 1) as soon as the limit is passed.
std::size_t json_nesting_depth(std::string_view text, std::size_t max_depth);

}  // namespace tally::api
