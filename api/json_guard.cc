// Checks run cheapest and safest first: media type, then UTF-8 (a linear scan), then syntax and
// depth with Boost.JSON's event parser and a handler that keeps nothing, so no document is
// built. The parser stops at the depth limit, so its recursion is bounded; the linear depth scan
// runs only for a refused body, to tell whether depth is the reason.
#include "api/json_guard.h"

#include <cstring>
#include <string>

#include <boost/beast/core/string.hpp>
#include <boost/json/basic_parser_impl.hpp>

#include "api/problem.h"
#include "api/utf8.h"

namespace tally::api {
namespace {

namespace json = boost::json;

// Accepts every event and stores nothing: syntax validation only.
struct null_handler {
  static constexpr std::size_t max_array_size = -1;
  static constexpr std::size_t max_object_size = -1;
  static constexpr std::size_t max_string_size = -1;
  static constexpr std::size_t max_key_size = -1;
  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t, json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t, json::error_code&) { return true; }
  bool on_string_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_key_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_key(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return true; }
  bool on_double(double, json::string_view, json::error_code&) { return true; }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

http_response invalid_json(std::string_view detail) {
  return problem(http::status::bad_request, "invalid-json", "Invalid JSON", detail);
}

}  // namespace

bool is_json_media_type(std::string_view content_type) {
  namespace beast = boost::beast;
  // Splits "type/subtype; name=value; ..." at the next ';'.
  auto next = [](std::string_view& rest) {
    auto semi = rest.find(';');
    std::string_view part = trim(rest.substr(0, semi));
    rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
    return part;
  };
  std::string_view rest = content_type;
  std::string_view type = next(rest);
  bool json = beast::iequals(type, "application/json");
  if (!json && type.size() > 17 && beast::iequals(type.substr(0, 12), "application/")) {
    json = beast::iequals(type.substr(type.size() - 5), "+json");  // cloudevents+json, ...
  }
  if (!json) return false;
  // The only parameter that matters is charset, and JSON is UTF-8 (RFC 8259 section 8.1).
  while (!rest.empty()) {
    std::string_view param = next(rest);
    auto eq = param.find('=');
    if (eq == std::string_view::npos) continue;
    if (!beast::iequals(trim(param.substr(0, eq)), "charset")) continue;
    std::string_view value = trim(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (!beast::iequals(value, "utf-8") && !beast::iequals(value, "utf8")) return false;
  }
  return true;
}

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    // ASCII runs eight bytes at a time.
    if (text.size() - i >= 8) {
      std::uint64_t word;
      std::memcpy(&word, text.data() + i, 8);
      if ((word & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    const auto len = utf8_sequence_length(text, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::size_t json_nesting_depth(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0, deepest = 0;
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end) {
    switch (*p++) {
      case '"':
        // Skip the string; a backslash escapes the next character, whatever it is. Strings
        // are most of a body: the next quote is found with memchr, and it ends the string
        // when an even number of backslashes precedes it.
        for (;;) {
          const auto* q = static_cast<const char*>(std::memchr(p, '"', std::size_t(end - p)));
          if (!q) return deepest;
          const char* b = q;
          while (b > p && b[-1] == '\\') --b;
          p = q + 1;
          if ((q - b) % 2 == 0) break;
        }
        break;
      case '[':
      case '{':
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > max_depth) return deepest;
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;  // unbalanced: the parser reports it
        break;
      default:
        break;
    }
  }
  return deepest;
}

std::optional<http_response> check_json_body(const http_request& req, std::size_t max_depth) {
  const std::string& body = req.body();
  if (body.empty()) return std::nullopt;
  auto content_type = req[http::field::content_type];
  if (!is_json_media_type(std::string_view(content_type.data(), content_type.size()))) {
    return problem(
        http::status::unsupported_media_type, "unsupported-media-type", "Unsupported Media Type",
        content_type.empty()
            ? "a request body needs Content-Type: application/json"
            : "the body must be application/json (UTF-8), not " + std::string(content_type));
  }
  if (!is_valid_utf8(body)) return invalid_json("the body is not valid UTF-8");
  // The parser stops one level past the limit (it recurses no deeper), so a body it takes is
  // within the limit; the depth scan runs only to tell a refused one's reason.
  json::parse_options opt;
  opt.max_depth = max_depth;
  json::basic_parser<null_handler> parser(opt);
  json::error_code ec;
  std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
  if (!ec && used < body.size()) ec = json::error::extra_data;
  if (!ec) return std::nullopt;
  if (ec == json::error::too_deep || json_nesting_depth(body, max_depth) > max_depth) {
    return problem(http::status::bad_request, "json-too-deep", "JSON Nested Too Deeply",
                   "arrays and objects may nest at most " + std::to_string(max_depth) + " levels",
                   {{"max_depth", max_depth}});
  }
  return invalid_json("the body is not JSON: " + ec.message() + " (at byte " +
                      std::to_string(used) + ")");
}

}  // namespace tally::api
