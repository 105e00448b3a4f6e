// RFC 9457 problem details and JSON answers. Every error the API gives is a problem body:
// {"type": "https://tally.dev/problems/<slug>", "title", "status", "detail", ...extras}.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "api/http_types.h"

namespace tally::api {

// A problem answer; `extras` are merged into the body (e.g. scope, limit, spent).
http_response problem(http::status status, std::string_view slug, std::string_view title,
                      std::string_view detail, boost::json::object extras = {});

// A JSON answer with the given body text (already serialised).
http_response json_text(http::status status, std::string body);
http_response json_value(http::status status, const boost::json::value& body);

}  // namespace tally::api
