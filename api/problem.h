// RFC 9457 problem details and JSON answers. Every error the API gives is a problem body:
// {"type": "https://tally.dev/problems/<slug>", "title", "status", "detail", ...extras}.
// Thread-safety: pure functions.
#pragma once

#include <stdexcept>
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

namespace tally::api {

// A request the handler refuses; the dispatcher answers it as a problem body. Thrown only while
// reading a request, before anything is decided or appended.
struct api_error : std::runtime_error {
  api_error(http::status s, std::string slug_, std::string detail)
      : std::runtime_error(std::move(detail)), status(s), slug(std::move(slug_)) {}
  http::status status;
  std::string slug;
};

}  // namespace tally::api
