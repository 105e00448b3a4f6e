// Budget and cost reads: served from the live state under the team's lock, so a read that
// follows an acknowledged write on this node reflects it.
#include "api/handlers.h"

#include "projections/reservations.h"
#include "schemas/event_time.h"

namespace tally::api {
namespace {

const date::time_zone* zone_of(live_view& live, const team_id& team) {
  auto t = live.team(team);
  const date::time_zone* z = find_zone(t ? t->timezone : "UTC");
  return z ? z : find_zone("UTC");
}

// The tightest cost limit of a window among the enclosing scopes: least remaining.
const budget_line* tightest(const budget_view& v, std::string_view window) {
  const budget_line* best = nullptr;
  for (auto& l : v.lines) {
    if (l.window != window || l.metric != "cost") continue;
    if (!best || l.remaining < best->remaining) best = &l;
  }
  return best;
}

}  // namespace

void agent_budget(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  agent_id agent{path_id(ctx, "agent_id")};
  team_id team = team_of_agent(deps, agent);
  require(ctx, team, need::read);
  std::optional<std::string> task_q;
  if (auto t = ctx.query.get("task_id")) task_q = std::string(*t);
  if (task_q && !task_q->empty() && !valid_id(*task_q)) {
    throw api_error(http::status::bad_request, "bad_query", "task_id is not a valid id");
  }
  run_read(deps, team, std::move(respond), [&](live_view& live) {
    const time_ms now = deps.clock();
    task_id task = task_q ? task_id{*task_q} : live.latest_task(team, agent);
    auto v = budget_of(live, *deps.policy, team, agent, task, now);
    const auto* zone = zone_of(live, team);
    json_writer w;
    w.begin_object().field("agent_id", agent.str()).field("team_id", team.str());
    if (task.empty()) {
      w.key("task_id").null();
    } else {
      w.field("task_id", task.str());
    }
    // Held by the agent's open reservations (reservations.h), for windows without a limit.
    const std::int64_t agent_held =
        held_for(live, team, agent, task_id{}, session_id{}, now, false).agent;
    auto window = [&](std::string_view k, std::string_view name, std::int64_t spent) {
      if (auto* l = tightest(v, name)) {
        w.key(k, "_limit_usd").usd(nanos{l->limit});
        w.key(k, "_spent_usd").usd(nanos{l->spent});
        w.key(k, "_remaining_usd").usd(nanos{l->remaining});
        w.key(k, "_limit_nanos").integer(l->limit).key(k, "_spent_nanos").integer(l->spent);
        w.key(k, "_remaining_nanos").integer(l->remaining).key(k, "_scope").string(l->scope);
        w.key(k, "_reserved_usd").usd(nanos{l->reserved});
        w.key(k, "_reserved_nanos").integer(l->reserved);
      } else {
        w.key(k, "_limit_usd").null().key(k, "_spent_usd").usd(nanos{spent});
        w.key(k, "_remaining_usd").null().key(k, "_limit_nanos").null();
        w.key(k, "_spent_nanos").integer(spent).key(k, "_remaining_nanos").null();
        w.key(k, "_scope").null();
        w.key(k, "_reserved_usd").usd(nanos{agent_held});
        w.key(k, "_reserved_nanos").integer(agent_held);
      }
    };
    window("daily", "day", v.agent_day_cost_nanos);
    window("monthly", "month", v.agent_month_cost_nanos);
    const budget_line* task_line = nullptr;
    for (auto& l : v.lines) {
      if (l.window == "lifetime") task_line = &l;
    }
    if (task_line) {
      w.money("task_limit", nanos{task_line->limit});
      w.money("task_spent", nanos{task_line->spent});
      w.money("task_remaining", nanos{task_line->remaining});
    } else {
      w.money("task_limit", std::nullopt);
      if (task.empty()) {
        w.money("task_spent", std::nullopt);
      } else {
        w.money(
            "task_spent",
            nanos{live.get(totals_key(scope_task(team, task), window_lifetime, "-")).cost_nanos});
      }
      w.money("task_remaining", std::nullopt);
    }
    w.field("over_budget", v.over_budget);
    w.money("rejected_cost", nanos{v.rejected_cost_nanos});
    const budget_line* day = tightest(v, "day");
    w.field("resets_at", format_rfc3339(day ? day->resets_at : next_day_start(now, zone)));
    w.key("limits").begin_array();
    for (auto& l : v.lines) {
      w.begin_object().field("scope", l.scope).field("window", l.window).field("metric", l.metric);
      if (l.metric == "cost") {
        w.money("limit", nanos{l.limit}).money("spent", nanos{l.spent});
        w.money("reserved", nanos{l.reserved}).money("remaining", nanos{l.remaining});
      } else {
        w.field("limit", l.limit).field("spent", l.spent).field("remaining", l.remaining);
      }
      if (l.resets_at) {
        w.field("resets_at", format_rfc3339(l.resets_at));
      } else {
        w.key("resets_at").null();
      }
      w.field("reached", l.reached).end_object();
    }
    w.end_array().end_object();
    return json_text(http::status::ok, w.take());
  });
}

void team_costs(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  team_id team{path_id(ctx, "team_id")};
  require(ctx, team, need::read);
  std::string period_q(ctx.query.get("period").value_or("month"));
  if (period_q != "day" && period_q != "month") {
    throw api_error(http::status::bad_request, "bad_query", "period is day or month");
  }
  run_read(deps, team, std::move(respond), [&](live_view& live) {
    if (!live.team(team)) {
      return problem(http::status::not_found, "team_not_found", "Not found", "no team");
    }
    const time_ms now = deps.clock();
    const auto* zone = zone_of(live, team);
    auto p = periods_of(now, zone);
    const bool day = period_q == "day";
    const char win = day ? window_day : window_month;
    const std::string& period = day ? p.day : p.month;
    auto t = live.get(totals_key(scope_team(team), win, period));
    json_writer w;
    w.begin_object().field("team_id", team.str()).field("period", period_q);
    w.field("period_start", period);
    w.money("total_cost", nanos{t.cost_nanos});
    w.money("rejected_cost", nanos{t.rejected_cost_nanos});
    w.field("total_input_tokens", t.input_tokens).field("total_output_tokens", t.output_tokens);
    w.field("total_cache_creation_input_tokens", t.cache_creation_tokens);
    w.field("total_cache_read_input_tokens", t.cache_read_tokens);
    w.field("total_tokens", t.tokens()).field("reports", t.events);
    w.key("agents").begin_array();
    for (auto& [id, a] : live.agents(team)) {
      auto at = live.get(totals_key(scope_agent(team, id), win, period));
      w.begin_object()
          .field("agent_id", id.str())
          .field("agent_name", a.name.empty() ? id.str() : a.name);
      w.money("cost", nanos{at.cost_nanos}).field("tokens", at.tokens()).end_object();
    }
    w.end_array();
    // Sessions opened in the period (in the team's time zone).
    w.key("sessions").begin_array();
    for (auto& [id, s] : live.sessions(team)) {
      auto sp = periods_of(s.opened_at, zone);
      if ((day ? sp.day : sp.month) != period) continue;
      write_session(w, live, team, id, s, now);
    }
    w.end_array().end_object();
    return json_text(http::status::ok, w.take());
  });
}

}  // namespace tally::api
