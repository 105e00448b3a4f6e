// Request-level authentication and authorization, called by the router before a handler:
// authenticate_request finds the credential (X-API-Key, or Authorization: Bearer <jwt>) and
// counts the request against the caller's rate limit; authorize decides whether a principal
// may act on a team. Errors are ready-made problem answers (401, 403, 429).
// Thread-safety: plain functions; safe from any thread as long as the deps outlive the call.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>

#include "api/api_keys.h"
#include "api/http_types.h"
#include "api/jwt_auth.h"
#include "api/rate_limiter.h"

namespace tally::api {

struct auth_deps {
  const key_registry* keys = nullptr;  // null: API keys are not accepted
  const jwt_verifier* jwt = nullptr;   // null: bearer tokens are not accepted
  rate_limiter* limiter = nullptr;     // null: no rate limits (tests, internal listeners)
};

// A caller that may proceed; the handler's answer gets add_rate_headers(res, rate).
struct authenticated {
  principal who;
  rate_decision rate;
};

// X-API-Key wins when both credentials are sent (the bearer token is then ignored).
// Missing or bad credential: 401 with `WWW-Authenticate: Bearer ...`. Over the limit: 429
// with the rate headers and Retry-After. Requests are counted per API key id (an API key and
// the tokens issued for it share one allowance) or per token subject.
std::variant<authenticated, http_response> authenticate_request(const auth_deps& deps,
                                                                const http_request& req,
                                                                rate_class c, std::int64_t now_ms);

enum class access {
  read,   // GET of a team's data
  write,  // reporting usage, budget checks, anything an agent does to its own team
  admin,  // key management, limits, team creation
};

// nullopt when `who` may have `a` on `team` (empty: org-level, e.g. creating a team), else a
// 403 problem. Org-wide admins may do everything; a team's admin everything in that team; an
// agent read and write in its team; a reader read in its team; nobody anything elsewhere.
std::optional<http_response> authorize(const principal& who, std::string_view team, access a);

}  // namespace tally::api
