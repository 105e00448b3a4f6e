// API keys (created, listed, revoked) and the exchange of a key for a short-lived JWT.
#include "api/handlers.h"

#include "api/roles.h"

namespace tally::api {
namespace {

void write_key(json_writer& w, const api_key_record& k) {
  w.begin_object().field("id", k.id).field("role", to_string(k.who));
  if (k.team.empty()) {
    w.key("team").null();
  } else {
    w.field("team", k.team);
  }
  w.field("name", k.name).field("created_at", format_rfc3339(k.created_at_ms));
  w.field("revoked", k.revoked).end_object();
}

// Key management is for admins: an org-wide admin anywhere, a team's admin in its team.
void require_key_admin(const request_ctx& ctx, const std::string& team) {
  if (ctx.caller.who != role::admin) {
    throw api_error(http::status::forbidden, "forbidden", "managing keys needs an admin key");
  }
  if (!ctx.caller.org_wide() && ctx.caller.team != team) {
    throw api_error(http::status::forbidden, "forbidden",
                    "a team's admin manages only that team's keys");
  }
}

void publish_then(api_deps& deps, api_key_record rec, respond_fn respond,
                  std::function<http_response()> answer) {
  deps.publish_key(rec,
                   [&deps, rec, respond = std::move(respond), answer = std::move(answer)](bool ok) {
                     if (!ok) {
                       respond(problem(http::status::service_unavailable, "append_failed",
                                       "The control topic did not take the key", "retry"));
                       return;
                     }
                     deps.keys->apply(rec);
                     respond(answer());
                   });
}

}  // namespace

void create_key(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  auto b = body_of(ctx);
  b.allow_only({"role", "team", "team_id", "name"});
  auto role_text = b.text("role").value_or("agent");
  auto who = role_from_string(role_text);
  if (!who) {
    throw api_error(http::status::unprocessable_entity, "bad_field",
                    "role is admin, agent or reader");
  }
  std::string team = b.id("team").value_or(b.id("team_id").value_or(""));
  require_key_admin(ctx, team);
  auto secret = generate_key_secret();
  auto rec = make_key_record(secret, *who, team, b.text("name").value_or(""), deps.clock());
  if (auto why = key_record_problem(rec)) {
    throw api_error(http::status::unprocessable_entity, "bad_key", *why);
  }
  if (!team.empty()) {
    bool exists = false;
    deps.ledger->with_state(
        [&](live_view& live) { exists = live.team(team_id{team}).has_value(); });
    if (!exists) throw api_error(http::status::not_found, "team_not_found", "no team " + team);
  }
  publish_then(deps, rec, std::move(respond), [rec, secret] {
    json_writer w;
    write_key(w, rec);
    // The secret is shown once, here; only its SHA-256 is kept.
    std::string body = w.take();
    body.pop_back();
    body += ",\"key\":" + json_writer().string(secret).take() + "}";
    return json_text(http::status::created, std::move(body));
  });
}

void list_keys(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  std::optional<std::string> team;
  if (auto t = ctx.query.get("team")) team = std::string(*t);
  if (!ctx.caller.org_wide()) team = ctx.caller.team;
  require_key_admin(ctx, team.value_or(""));
  json_writer w;
  w.begin_object().key("keys").begin_array();
  for (auto& k : deps.keys->list(team)) write_key(w, k);
  w.end_array().end_object();
  respond(json_text(http::status::ok, w.take()));
}

void revoke_key(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  auto id = std::string(ctx.path.get("key_id").value_or(""));
  auto rec = deps.keys->get(id);
  if (!rec) throw api_error(http::status::not_found, "key_not_found", "no key " + id);
  require_key_admin(ctx, rec->team);
  if (rec->revoked) {
    json_writer w;
    write_key(w, *rec);
    respond(json_text(http::status::ok, w.take()));
    return;
  }
  rec->revoked = true;
  auto r = *rec;
  publish_then(deps, r, std::move(respond), [r] {
    json_writer w;
    write_key(w, r);
    return json_text(http::status::ok, w.take());
  });
}

void issue_access_token(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  if (!deps.jwt) {
    throw api_error(http::status::not_found, "no_tokens", "this node issues no tokens");
  }
  // A key is exchanged for a token; a token is not renewed by itself (revocation must bite).
  if (ctx.req.count("X-API-Key") == 0) {
    throw api_error(http::status::unauthorized, "unauthorized",
                    "a token is issued in exchange for an X-API-Key only");
  }
  const auto now_s = deps.clock() / 1000;
  auto token = issue_token(*deps.jwt, ctx.caller, now_s);
  json_writer w;
  w.begin_object().field("access_token", token).field("token_type", "Bearer");
  w.field("expires_in", deps.jwt->ttl_seconds).field("role", to_string(ctx.caller.who));
  if (ctx.caller.team.empty()) {
    w.key("team").null();
  } else {
    w.field("team", ctx.caller.team);
  }
  w.end_object();
  respond(json_text(http::status::ok, w.take()));
}

}  // namespace tally::api
