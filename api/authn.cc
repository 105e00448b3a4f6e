#include "api/authn.h"

#include <string>

#include <boost/json/object.hpp>

#include "api/problem.h"
#include "api/roles.h"

namespace tally::api {

namespace {

std::string_view to_string(access a) {
  switch (a) {
    case access::read:
      return "read";
    case access::write:
      return "write";
    case access::admin:
      return "admin";
  }
  return "admin";
}

http_response unauthorized(std::string_view detail, bool bad_token) {
  http_response res = problem(http::status::unauthorized, "unauthorized", "Unauthorized", detail);
  // RFC 6750 section 3: error="invalid_token" only when a token was presented.
  res.set(http::field::www_authenticate,
          bad_token ? R"(Bearer realm="tally", error="invalid_token")" : R"(Bearer realm="tally")");
  return res;
}

// "Bearer <token>": the scheme is case-insensitive (RFC 9110 11.1), then one or more spaces.
std::optional<std::string_view> bearer_token(std::string_view value) {
  constexpr std::string_view scheme = "bearer";
  if (value.size() <= scheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    char c = value[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != scheme[i]) return std::nullopt;
  }
  std::string_view rest = value.substr(scheme.size());
  if (rest.front() != ' ') return std::nullopt;
  std::size_t start = rest.find_first_not_of(' ');
  if (start == std::string_view::npos) return std::nullopt;
  rest.remove_prefix(start);
  while (rest.back() == ' ') rest.remove_suffix(1);
  return rest;
}

}  // namespace

std::variant<authenticated, http_response> authenticate_request(const auth_deps& deps,
                                                                const http_request& req,
                                                                rate_class c, std::int64_t now_ms) {
  authenticated ok;
  std::string rate_key;
  if (req.count("X-API-Key") > 0) {
    if (req.count("X-API-Key") > 1) return unauthorized("more than one X-API-Key header", false);
    if (!deps.keys) return unauthorized("API keys are not accepted here", false);
    std::optional<principal> p = deps.keys->authenticate(req["X-API-Key"]);
    if (!p) return unauthorized("unknown or revoked API key", false);
    ok.who = std::move(*p);
    rate_key = ok.who.key_id;
  } else if (req.count(http::field::authorization) > 0) {
    if (req.count(http::field::authorization) > 1) {
      return unauthorized("more than one Authorization header", false);
    }
    std::optional<std::string_view> token = bearer_token(req[http::field::authorization]);
    if (!token) return unauthorized("Authorization must be \"Bearer <token>\"", false);
    if (!deps.jwt) return unauthorized("bearer tokens are not accepted here", true);
    std::string why;
    std::optional<jwt_claims> claims = deps.jwt->verify_claims(*token, now_ms / 1000, &why);
    if (!claims) return unauthorized(why, true);
    // A token issued for a key ends with the key: revoking it revokes its tokens.
    if (!claims->who.key_id.empty() && deps.keys) {
      if (auto rec = deps.keys->get(claims->who.key_id); rec && rec->revoked) {
        return unauthorized("the API key this token was issued for is revoked", true);
      }
    }
    ok.who = std::move(claims->who);
    // Key ids ("key_...") and subjects live in separate namespaces of the limiter.
    rate_key = ok.who.key_id.empty() ? "sub:" + claims->subject : ok.who.key_id;
  } else {
    return unauthorized("an X-API-Key header or a bearer token is required", false);
  }

  if (!deps.limiter) return ok;
  ok.rate = deps.limiter->take(rate_key, c, now_ms);
  if (!ok.rate.allowed) {
    http_response res =
        problem(http::status::too_many_requests, "rate-limited", "Too Many Requests",
                "over the limit of " + std::to_string(ok.rate.limit) + " requests per minute for " +
                    std::string(to_string(c)) + " requests; retry in " +
                    std::to_string(ok.rate.retry_after_s) + " s",
                boost::json::object{{"limit", ok.rate.limit},
                                    {"class", to_string(c)},
                                    {"retry_after_s", ok.rate.retry_after_s}});
    add_rate_headers(res, ok.rate);
    return res;
  }
  return ok;
}

std::optional<http_response> authorize(const principal& who, std::string_view team, access a) {
  auto forbidden = [&](std::string detail) {
    return problem(http::status::forbidden, "forbidden", "Forbidden", detail,
                   boost::json::object{{"team", team}, {"required", to_string(a)}});
  };
  if (who.who == role::none) return forbidden("the credential has no role");
  // A principal without a team reaches everything only if it is an admin: an agent or reader
  // record without a team is invalid and must not match the org-level scope "".
  const bool in_scope = who.org_wide() || (!who.team.empty() && who.team == team);
  if (!in_scope) {
    if (team.empty()) return forbidden("org-level requests need an org-wide admin credential");
    return forbidden("the credential is scoped to " +
                     (who.team.empty() ? std::string("no team") : "team " + who.team) +
                     ", not team " + std::string(team));
  }
  bool allowed = false;
  switch (who.who) {
    case role::admin:
      allowed = true;
      break;
    case role::agent:
      allowed = a == access::read || a == access::write;
      break;
    case role::reader:
      allowed = a == access::read;
      break;
    case role::none:
      break;
  }
  if (!allowed) {
    return forbidden("role " + std::string(api::to_string(who.who)) + " may not " +
                     std::string(to_string(a)));
  }
  return std::nullopt;
}

}  // namespace tally::api
