// GET /api/v1/insights: the optimisation insights of a team (projections/insights.h) over its
// runs of the current month in the team's zone, priced at the version in force now; dismissed
// ones are left out unless ?include_dismissed=true. POST /api/v1/insights/{insight_id}/dismiss
// hides one for the team: an InsightDismissed event decided under the team's lock, like an
// alert acknowledgement (projections/insight_state.h).
#include <algorithm>

#include "api/handlers.h"
#include "projections/insight_state.h"
#include "projections/insights.h"

namespace tally::api {
namespace {

[[noreturn]] void bad_query(const std::string& detail) {
  throw api_error(http::status::bad_request, "bad_query", detail);
}

struct current {
  month_progress month;
  const price_version* prices = nullptr;
  std::vector<insight> insights;
};

current current_insights(api_deps& deps, live_view& live, const team_id& team) {
  current c;
  const time_ms now = deps.clock();
  const auto* zone = team_zone_of(live, team);
  c.month = month_progress_of(now, zone);
  c.prices = deps.pricing ? deps.pricing->version_at(now) : nullptr;
  c.insights =
      compute_insights(runs_in_month(team_runs(live, team), c.month, zone), c.prices, c.month);
  return c;
}

void or_null(json_writer& w, std::string_view k, const std::string& v) {
  if (v.empty()) {
    w.key(k).null();
  } else {
    w.field(k, v);
  }
}

void write_insight(json_writer& w, live_view& live, const insight& i,
                   const insight_dismissal* dismissed) {
  w.begin_object().field("id", i.id).field("rule", i.rule).field("agent_id", i.agent.str());
  auto a = live.agent(i.agent);
  w.field("agent_name", a && !a->name.empty() ? a->name : i.agent.str());
  or_null(w, "model", i.model);
  or_null(w, "suggested_model", i.suggested_model);
  w.field("title", i.title).field("suggestion", i.suggestion).field("runs", i.runs);
  w.money("cost", i.cost);
  w.money("saving_so_far", i.saving_so_far);
  w.money("monthly_saving", i.monthly_saving);
  w.key("metrics").begin_object();
  for (auto& m : i.metrics) w.field(m.name, m.value);
  w.end_object();
  w.field("dismissed", dismissed != nullptr);
  if (dismissed) {
    w.field("dismissed_at", format_rfc3339(dismissed->at)).field("dismissed_by", dismissed->by);
  } else {
    w.key("dismissed_at").null().key("dismissed_by").null();
  }
  w.end_object();
}

// ?team_id= (else the credential's team; org-wide keys must name one).
team_id team_of_request(const request_ctx& ctx) {
  const usage_scope s = read_usage_scope(ctx);
  if (s.org) bad_query("team_id is required with an org-wide key");
  return s.team;
}

}  // namespace

void list_insights(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  for (auto& [k, v] : ctx.query.items) {
    if (k != "team_id" && k != "include_dismissed") bad_query("unknown query parameter " + k);
  }
  bool include_dismissed = false;
  if (auto v = ctx.query.get("include_dismissed")) {
    if (*v != "true" && *v != "false") bad_query("include_dismissed is true or false");
    include_dismissed = *v == "true";
  }
  const usage_scope scope{false, team_of_request(ctx)};
  const team_id& team = scope.team;
  read_in_scope(deps, scope, std::move(respond), [&](live_view& live) {
    const current c = current_insights(deps, live, team);
    const auto dismissed = dismissed_insights(live, team);
    json_writer w;
    w.begin_object().field("team_id", team.str()).field("month", c.month.month);
    w.field("day_of_month", c.month.day).field("days_in_month", c.month.days);
    if (c.prices) {
      w.field("price_version", c.prices->id);
    } else {
      w.key("price_version").null();
    }
    w.field("include_dismissed", include_dismissed);
    w.key("insights").begin_array();
    std::int64_t n = 0, hidden = 0;
    nanos total;
    for (auto& i : c.insights) {
      auto d = dismissed.find(i.id);
      const bool is_dismissed = d != dismissed.end();
      hidden += is_dismissed;
      if (is_dismissed && !include_dismissed) continue;
      if (!is_dismissed) total += i.monthly_saving;
      write_insight(w, live, i, is_dismissed ? &d->second : nullptr);
      ++n;
    }
    w.end_array().field("count", n).field("dismissed_count", hidden);
    w.money("total_monthly_saving", total);
    w.end_object();
    return json_text(http::status::ok, w.take());
  });
}

void dismiss_insight(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  const std::string id = path_id(ctx, "insight_id");
  for (auto& [k, v] : ctx.query.items) {
    if (k != "team_id") bad_query("unknown query parameter " + k);
  }
  const team_id team = team_of_request(ctx);
  require(ctx, team, need::write);
  const std::string by =
      ctx.caller.key_id.empty() ? std::string(to_string(ctx.caller.who)) : ctx.caller.key_id;
  run_command(
      deps, team, std::move(respond),
      [&](live_view& live) {
        const current c = current_insights(deps, live, team);
        const bool listed = std::any_of(c.insights.begin(), c.insights.end(),
                                        [&](const insight& i) { return i.id == id; });
        command_context cc{deps.policy, deps.clock(), deps.source, dismissal_event_id(id)};
        return decide_dismiss_insight(live, cc, team, id, by, listed);
      },
      [&](live_view& live, const command_decision&) {
        const current c = current_insights(deps, live, team);
        const auto dismissed = dismissed_insights(live, team);
        auto d = dismissed.find(id);
        json_writer w;
        auto i = std::find_if(c.insights.begin(), c.insights.end(),
                              [&](const insight& x) { return x.id == id; });
        if (i != c.insights.end()) {
          write_insight(w, live, *i, d == dismissed.end() ? nullptr : &d->second);
        } else {  // dismissed earlier; the rule no longer fires this month
          w.begin_object().field("id", id).field("dismissed", true);
          if (d != dismissed.end()) {
            w.field("dismissed_at", format_rfc3339(d->second.at));
            w.field("dismissed_by", d->second.by);
          }
          w.end_object();
        }
        return json_text(http::status::ok, w.take());
      });
}

}  // namespace tally::api
