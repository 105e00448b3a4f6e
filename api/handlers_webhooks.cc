// Webhook subscriptions: created (the secret shown once), listed, read, switched on or off,
// deleted, and their delivery log with manual redelivery. A subscription is a control-topic
// record; it is applied once the topic acknowledged it. A team's admin manages the team's
// subscriptions; subscriptions without a team (every team's alerts) need an org-wide admin;
// readers may read the list and the log (never a secret).
#include <algorithm>

#include "api/handlers.h"
#include "api/webhooks_api.h"
#include "consumers/net_ranges.h"
#include "consumers/webhook_signature.h"

namespace tally::api {
namespace {

webhooks_api& hooks(api_deps& deps) {
  if (!deps.webhooks || !deps.webhooks->registry) {
    throw api_error(http::status::service_unavailable, "webhooks_unavailable",
                    "webhooks are not served by this node");
  }
  return *deps.webhooks;
}

void require_on(const request_ctx& ctx, const std::string& team, need n) {
  if (team.empty()) {
    require_org_admin(ctx);
  } else {
    require(ctx, team_id{team}, n);
  }
}

void write_webhook(json_writer& w, const webhook_subscription& s) {
  w.begin_object().field("id", s.id).field("url", s.url);
  if (s.team.empty()) {
    w.key("team_id").null();
  } else {
    w.field("team_id", s.team);
  }
  if (s.min_level.empty()) {
    w.key("min_level").null();
  } else {
    w.field("min_level", s.min_level);
  }
  w.field("description", s.description);
  w.field("enabled", s.enabled);
  if (s.enabled) {
    w.key("disabled_reason").null().key("disabled_at").null();
  } else {
    w.field("disabled_reason", s.disabled_reason);
    w.field("disabled_at", format_rfc3339(s.disabled_at));
  }
  w.field("created_at", format_rfc3339(s.created_at));
  w.end_object();
}

// The subscription of the path, which the caller may act on as `n` (403 otherwise).
webhook_subscription subscription_of(api_deps& deps, const request_ctx& ctx, need n) {
  auto id = path_id(ctx, "webhook_id");
  auto s = hooks(deps).registry->get(id);
  if (!s || s->deleted) throw api_error(http::status::not_found, "not_found", "no webhook " + id);
  require_on(ctx, s->team, n);
  return *s;
}

// Publishes the record, applies it once acknowledged and answers `answer()`.
void publish_then(api_deps& deps, webhook_subscription s, respond_fn respond,
                  std::function<http_response()> answer) {
  auto& h = hooks(deps);
  h.publish(s, [&h, s, respond = std::move(respond), answer = std::move(answer)](bool ok) {
    if (!ok) {
      respond(problem(http::status::service_unavailable, "append_failed",
                      "The control topic did not take the subscription", "retry"));
      return;
    }
    h.registry->apply(s);
    respond(answer());
  });
}

std::string level_field(const request_body& b) {
  auto level = b.text("min_level").value_or("");
  if (!level.empty() && alert_level_rank(level) == 0) {
    throw api_error(http::status::unprocessable_entity, "bad_field",
                    "min_level is info, warning, critical or exceeded");
  }
  return level;
}

void check_url(const webhooks_api& h, const std::string& url) {
  if (auto why = webhook_url_problem(url, h.allow_private)) {
    throw api_error(http::status::unprocessable_entity, "bad_url", *why);
  }
}

}  // namespace

void create_webhook(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  auto& h = hooks(deps);
  auto b = body_of(ctx);
  b.allow_only({"url", "team_id", "min_level", "description"});
  webhook_subscription s;
  s.url = b.text("url").value_or("");
  if (s.url.empty()) {
    throw api_error(http::status::unprocessable_entity, "missing_field", "url is required");
  }
  // A team's credential subscribes its own team unless it names one.
  s.team = b.id("team_id").value_or(ctx.caller.org_wide() ? "" : ctx.caller.team);
  if (!s.team.empty() && !valid_id(s.team)) {
    throw api_error(http::status::unprocessable_entity, "bad_field", "team_id is not a valid id");
  }
  require_on(ctx, s.team, need::admin);
  s.min_level = level_field(b);
  s.description = b.text("description").value_or("");
  if (s.description.size() > 500) {
    throw api_error(http::status::unprocessable_entity, "bad_field",
                    "description is at most 500 characters");
  }
  check_url(h, s.url);
  if (!s.team.empty()) {
    bool exists = false;
    deps.ledger->with_state(
        [&](live_view& live) { exists = live.team(team_id{s.team}).has_value(); });
    if (!exists) throw api_error(http::status::not_found, "team_not_found", "no team " + s.team);
  }
  s.id = new_id("wh_").substr(0, 3 + 16);
  s.secret = generate_webhook_secret();
  s.created_at = deps.clock();
  s.version = 1;
  publish_then(deps, s, std::move(respond), [s] {
    json_writer w;
    write_webhook(w, s);
    // The secret is shown once, here.
    std::string body = w.take();
    body.pop_back();
    body += ",\"secret\":" + json_writer().string(s.secret).take() + "}";
    return json_text(http::status::created, std::move(body));
  });
}

void list_webhooks(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  auto& h = hooks(deps);
  std::optional<std::string> team;
  if (auto t = ctx.query.get("team_id")) team = std::string(*t);
  if (!ctx.caller.org_wide()) {
    if (team && *team != ctx.caller.team) require(ctx, team_id{*team}, need::read);
    team = ctx.caller.team;
    require(ctx, team_id{*team}, need::read);
  }
  json_writer w;
  w.begin_object().key("webhooks").begin_array();
  for (auto& s : h.registry->list(team)) write_webhook(w, s);
  w.end_array().end_object();
  respond(json_text(http::status::ok, w.take()));
}

void get_webhook(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  auto s = subscription_of(deps, ctx, need::read);
  json_writer w;
  write_webhook(w, s);
  respond(json_text(http::status::ok, w.take()));
}

void patch_webhook(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  auto& h = hooks(deps);
  auto s = subscription_of(deps, ctx, need::admin);
  auto b = body_of(ctx);
  b.allow_only({"url", "min_level", "description", "enabled"});
  if (auto url = b.text("url")) {
    check_url(h, *url);
    s.url = *url;
  }
  if (b.has("min_level")) s.min_level = b.is_null("min_level") ? "" : level_field(b);
  if (auto d = b.text("description")) s.description = *d;
  if (auto e = b.boolean("enabled")) {
    if (*e && !s.enabled) {
      s.disabled_reason.clear();
      s.disabled_at = 0;
    } else if (!*e && s.enabled) {
      s.disabled_reason = "api";
      s.disabled_at = deps.clock();
    }
    s.enabled = *e;
  }
  s.version += 1;
  publish_then(deps, s, std::move(respond), [s] {
    json_writer w;
    write_webhook(w, s);
    return json_text(http::status::ok, w.take());
  });
}

void delete_webhook(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  auto s = subscription_of(deps, ctx, need::admin);
  s.deleted = true;
  s.enabled = false;
  s.version += 1;
  publish_then(deps, s, std::move(respond),
               [] { return http_response(http::status::no_content, 11); });
}

void list_webhook_deliveries(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  auto& h = hooks(deps);
  auto s = subscription_of(deps, ctx, need::read);
  if (!h.deliveries) {
    throw api_error(http::status::service_unavailable, "deliveries_unavailable",
                    "this node delivers no alerts");
  }
  std::int64_t limit = 50;
  if (auto l = ctx.query.get("limit")) {
    try {
      limit = std::stoll(std::string(*l));
    } catch (...) {
      limit = 0;
    }
    if (limit < 1 || limit > 500) {
      throw api_error(http::status::bad_request, "bad_query", "limit is 1 to 500");
    }
  }
  std::string cursor(ctx.query.get("cursor").value_or(""));
  if (!cursor.empty() && (cursor.size() < 17 || cursor[15] != '/' ||
                          !std::all_of(cursor.begin(), cursor.begin() + 15,
                                       [](char c) { return c >= '0' && c <= '9'; }))) {
    throw api_error(http::status::bad_request, "bad_query", "cursor is malformed");
  }
  const auto& store = *h.deliveries;
  auto rows = store.list(s.id, cursor, static_cast<std::size_t>(limit) + 1);
  const bool more = rows.size() > static_cast<std::size_t>(limit);
  if (more) rows.resize(static_cast<std::size_t>(limit));
  json_writer w;
  w.begin_object().field("webhook_id", s.id).key("deliveries").begin_array();
  for (auto& d : rows) {
    w.begin_object().field("event_id", d.event_id).field("event_type", d.event_type);
    w.field("state", to_string(d.state)).field("attempts", d.attempts);
    w.field("created_at", format_rfc3339(d.created_at));
    w.field("updated_at", format_rfc3339(d.updated_at));
    if (d.state == delivery_state::pending) {
      w.field("next_attempt_at", format_rfc3339(d.next_at));
    } else {
      w.key("next_attempt_at").null();
    }
    w.field("last_status", d.last_status).field("last_error", d.last_error);
    w.field("reason", d.reason);
    w.key("attempt_log").begin_array();
    for (auto& a : store.attempts(d.target, d.event_id)) {
      w.begin_object().field("n", a.n).field("at", format_rfc3339(a.at));
      w.field("duration_ms", a.duration_ms).field("status", a.status);
      w.field("timed_out", a.timed_out).field("manual", a.manual).field("error", a.error);
      w.end_object();
    }
    w.end_array().end_object();
  }
  w.end_array();
  if (more && !rows.empty()) {
    w.field("next_cursor", delivery_store::list_cursor(rows.back()));
  } else {
    w.key("next_cursor").null();
  }
  w.end_object();
  respond(json_text(http::status::ok, w.take()));
}

void redeliver_webhook(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  auto& h = hooks(deps);
  auto s = subscription_of(deps, ctx, need::admin);
  auto id = path_id(ctx, "event_id");
  if (!h.redeliver || !h.redeliver(s.id, id)) {
    throw api_error(http::status::not_found, "not_found",
                    "no delivery of " + id + " to webhook " + s.id);
  }
  json_writer w;
  w.begin_object().field("webhook_id", s.id).field("event_id", id).field("state", "pending");
  w.end_object();
  respond(json_text(http::status::accepted, w.take()));
}

}  // namespace tally::api
