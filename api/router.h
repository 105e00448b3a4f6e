// The route table: (method, pattern) -> handler plus what the server, the authenticator and the
// rate limiter need to know about a route. Patterns are literal segments and whole-segment
// parameters: "/api/v1/agents/{agent_id}/budget", "/api/v1/usage:batch" (a colon is literal).
// Thread-safety: add() during set-up only; match() and routes() are const and safe from any
// number of threads once set-up is over.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_types.h"

namespace tally::api {

// What a route is besides its handler.
struct route_meta {
  std::string rate_class = "general";  // rate-limit class: "general", "ingest", "auth", ...
  bool open = false;                   // served without a credential (/, /healthz, static files)
};

struct route {
  http::verb method = http::verb::get;
  std::string pattern;  // as given to add(); also the route's metric label
  route_meta meta;
  route_handler handler;
  std::size_t id = 0;  // index in router::routes(): a dense key for per-route slots
  std::vector<std::string> param_names;  // the pattern's {names}, in path order
};

// The outcome of matching one request target. Exactly one of `matched` and `error` is set.
struct route_match {
  const route* matched = nullptr;
  string_pairs path;   // percent-decoded path parameters, in path order
  string_pairs query;  // percent-decoded query parameters ('+' is a space), in order
  std::optional<http_response> error;  // 400 (bad target), 404, or 405 with an Allow header
  explicit operator bool() const { return matched != nullptr; }
};

class router {
 public:
  // Adds a route. Throws std::invalid_argument on a malformed pattern ("{" not a whole
  // segment, empty name, no leading "/") or when the same method and path shape exist already.
  // Pointers from match() stay valid until the next add().
  void add(http::verb method, std::string pattern, route_meta meta, route_handler handler);
  void add(http::verb method, std::string pattern, route_handler handler) {
    add(method, std::move(pattern), route_meta{}, std::move(handler));
  }

  // Matches an origin-form target ("/path?query"). Literal segments win over parameters; the
  // match backtracks so "/a/{x}/c" still serves "/a/b/c" when "/a/b/d" exists.
  route_match match(http::verb method, std::string_view target) const;

  // Every route in the order added (e.g. to check each one is in the OpenAPI document).
  std::span<const route> routes() const { return routes_; }

 private:
  static constexpr std::uint32_t none = ~std::uint32_t{0};
  struct node {
    std::vector<std::pair<std::string, std::uint32_t>> literals;  // decoded segment -> node
    std::uint32_t param = none;                                   // the {param} child
    std::vector<std::pair<http::verb, std::uint32_t>> methods;    // verb -> route index
  };
  struct search;

  std::vector<node> nodes_{1};  // nodes_[0] is the root ("/")
  std::vector<route> routes_;
  std::size_t max_segments_ = 0;
};

}  // namespace tally::api
