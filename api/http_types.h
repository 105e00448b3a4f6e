// The contract between the HTTP server and the handlers: a parsed request with its route's
// path parameters and query, and a one-shot `respond` that may be called from any thread
// (writes answer only after their event is durable, on the producer's delivery thread).
// Handlers are plain functions of (deps, request_ctx, respond): tested without sockets.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace tally::api {

namespace http = boost::beast::http;
using http_request = http::request<http::string_body>;
using http_response = http::response<http::string_body>;

// Called exactly once per request, from any thread.
using respond_fn = std::function<void(http_response)>;

// Who is calling; filled in by authentication before the handler runs.
enum class role { none, reader, agent, admin };
struct principal {
  role who = role::none;
  std::string team;    // the team the credential is scoped to; empty: the whole org (admins)
  std::string key_id;  // the API key (or the key a JWT was issued for)
  bool org_wide() const { return team.empty() && who == role::admin; }
};

// Name/value pairs in order; lookups are linear (a route has a handful).
struct string_pairs {
  std::vector<std::pair<std::string, std::string>> items;
  std::optional<std::string_view> get(std::string_view name) const {
    for (auto& [k, v] : items) {
      if (k == name) return std::string_view(v);
    }
    return std::nullopt;
  }
};

struct request_ctx {
  http_request req;
  std::string route;   // the route's pattern, e.g. "/api/v1/agents/{agent_id}/budget"
  string_pairs path;   // {agent_id} -> "eng-1" (percent-decoded)
  string_pairs query;  // ?task_id=594 (percent-decoded)
  principal caller;
};

using route_handler = std::function<void(request_ctx&, respond_fn)>;

}  // namespace tally::api
