#include "api/problem.h"

#include "api/utf8.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace tally::api {

http_response problem(http::status status, std::string_view slug, std::string_view title,
                      std::string_view detail, boost::json::object extras) {
  boost::json::object body;
  body["type"] = "https://tally.dev/problems/" + std::string(slug);
  body["title"] = valid_utf8(title);
  body["status"] = static_cast<int>(status);
  if (!detail.empty()) body["detail"] = valid_utf8(detail);
  for (auto& [k, v] : extras) body[k] = v;
  http_response res{status, 11};
  res.set(http::field::content_type, "application/problem+json");
  res.body() = boost::json::serialize(body);
  res.prepare_payload();
  return res;
}

http_response json_text(http::status status, std::string body) {
  http_response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

http_response json_value(http::status status, const boost::json::value& body) {
  return json_text(status, boost::json::serialize(body));
}

}  // namespace tally::api
