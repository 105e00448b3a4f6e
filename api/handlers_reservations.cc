// Reservations: hold budget for a session before an expensive call, settle it with the usage
// report (reservation_id), release it, or let it expire. The rule is in
// projections/reservations.h.
#include "api/handlers.h"
#include "projections/reservations.h"

namespace tally::api {
namespace {

void write_reservation(json_writer& w, const team_id& team, const reservation_record& r,
                       time_ms now) {
  w.begin_object().field("reservation_id", r.id).field("session_id", r.session.str());
  w.field("team_id", team.str()).field("agent_id", r.agent.str());
  if (r.task.empty()) {
    w.key("task_id").null();
  } else {
    w.field("task_id", r.task.str());
  }
  w.field("status", r.status_at(now));
  w.money("amount", r.amount);
  w.field("held_at", format_rfc3339(r.held_at)).field("expires_at", format_rfc3339(r.expires_at));
  w.field("ttl_seconds", (r.expires_at - r.held_at) / 1000);
  if (r.actual) {
    w.money("actual", *r.actual);
    w.field("over_reservation", r.actual->count > r.amount.count);
  }
  if (!r.usage_event.empty()) w.field("usage_event_id", r.usage_event);
  w.end_object();
}

http_response reservation_answer(live_view& live, const team_id& team, std::string_view rid,
                                 http::status status, time_ms now) {
  auto r = reservation_of(live, team, rid);
  if (!r) return problem(http::status::not_found, "reservation_not_found", "Not found", "");
  json_writer w;
  write_reservation(w, team, *r, now);
  return json_text(status, w.take());
}

}  // namespace

void create_reservation(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  session_id session{path_id(ctx, "session_id")};
  team_id team = team_of_session(deps, session);
  require(ctx, team, need::write);
  auto b = body_of(ctx);
  b.allow_only({"amount_usd", "estimated_cost_usd", "ttl_seconds", "reservation_id"});
  auto amount = b.usd("amount_usd");
  if (!amount) amount = b.usd("estimated_cost_usd");
  if (!amount || amount->count <= 0) {
    throw api_error(http::status::unprocessable_entity, "bad_field",
                    "amount_usd (or estimated_cost_usd) is required and positive");
  }
  const std::int64_t ttl = b.integer("ttl_seconds").value_or(300);
  if (ttl < 1 || ttl > max_reservation_ttl_ms / 1000) {
    throw api_error(http::status::unprocessable_entity, "bad_field",
                    "ttl_seconds must be 1.." + std::to_string(max_reservation_ttl_ms / 1000));
  }
  // Without a reservation id, a retried request (same Idempotency-Key) names the same one.
  std::string rid = b.id("reservation_id").value_or("");
  if (rid.empty()) {
    auto key = ctx.req["Idempotency-Key"];
    rid = key.empty() ? new_id("rsv_") : "rsv_" + sha256_hex(key, 32);
  }
  if (!valid_id(rid)) {
    throw api_error(http::status::unprocessable_entity, "bad_field",
                    "reservation_id must be 1-200 printable characters without '/'");
  }
  reserve_command c{
      team,
      session,
      rid,
      *amount,
      ttl * 1000,
      sha256_hex(session.str() + "|" + std::to_string(amount->count) + "|" + std::to_string(ttl),
                 16)};
  run_command(
      deps, team, std::move(respond),
      [&](live_view& live) {
        return decide_reserve(live, {deps.policy, deps.clock(), deps.source, event_id{}}, c);
      },
      [&](live_view& live, const command_decision&) {
        // A retry gets the original answer: 201 with the reservation as it was made.
        return reservation_answer(live, team, rid, http::status::created, deps.clock());
      });
}

void release_reservation(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  session_id session{path_id(ctx, "session_id")};
  const std::string rid = path_id(ctx, "reservation_id");
  team_id team = team_of_session(deps, session);
  require(ctx, team, need::write);
  run_command(
      deps, team, std::move(respond),
      [&](live_view& live) {
        return decide_release(live, {deps.policy, deps.clock(), deps.source, event_id{}}, team,
                              session, rid);
      },
      [&](live_view& live, const command_decision&) {
        return reservation_answer(live, team, rid, http::status::ok, deps.clock());
      });
}

void get_reservation(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  session_id session{path_id(ctx, "session_id")};
  const std::string rid = path_id(ctx, "reservation_id");
  team_id team = team_of_session(deps, session);
  require(ctx, team, need::read);
  run_read(deps, team, std::move(respond), [&](live_view& live) {
    auto r = reservation_of(live, team, rid);
    if (!r || r->session != session) {
      return problem(http::status::not_found, "reservation_not_found", "Not found", "");
    }
    json_writer w;
    write_reservation(w, team, *r, deps.clock());
    return json_text(http::status::ok, w.take());
  });
}

}  // namespace tally::api
