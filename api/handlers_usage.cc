// The cost-management spec's usage reads (seeds/003): totals of the current day, week or month,
// by agent, by project (= team), by model, and one entry per day over a range. An org-wide
// admin without ?team_id= sees the org (its rows count in UTC days and months); anyone else
// sees one team, counted in the team's time zone. Served from the live state, so a read that
// follows an acknowledged write on this node reflects it.
//
// Limitations, by what the store keeps: there is no index of the models a team used, so the
// by-model rows are looked up for the models its sessions opened with (and the pricing table's
// model keys); usage under any other model id (a report that overrides its session's model)
// is answered as one entry with "model": null — the rest of the total — so the entries always
// add up to the total. Org-wide views read this node's state: on a multi-node deployment they
// cover the teams of the partitions this node owns.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>

#include "api/handlers.h"
#include "schemas/event_time.h"

namespace tally::api {
namespace {

const limit_policy& policy_of(const api_deps& deps) {
  static const limit_policy none;
  return deps.policy ? *deps.policy : none;
}

const date::time_zone* utc_zone() {
  return find_zone("UTC");
}

const date::time_zone* team_zone(live_view& live, const team_id& team) {
  auto t = live.team(team);
  const date::time_zone* z = find_zone(t ? t->timezone : "UTC");
  return z ? z : utc_zone();
}

// A calendar day as days since 1970-01-01: ranges are walked and measured as integers.
using day_number = std::int64_t;

// Exactly "YYYY-MM-DD", a real date.
std::optional<day_number> parse_day(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  auto num = [&](std::size_t at, std::size_t n) -> std::optional<int> {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  auto y = num(0, 4), m = num(5, 2), d = num(8, 2);
  if (!y || !m || !d) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{*y},
                                        std::chrono::month{static_cast<unsigned>(*m)},
                                        std::chrono::day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days{ymd}.time_since_epoch().count();
}

std::string day_text(day_number d) {
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{d}}};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

enum class period_kind { day, week, month };

std::string_view period_name(period_kind k) {
  return k == period_kind::day ? "day" : k == period_kind::week ? "week" : "month";
}

period_kind read_period(const request_ctx& ctx) {
  const auto p = ctx.query.get("period").value_or("month");
  if (p == "day") return period_kind::day;
  if (p == "week") return period_kind::week;
  if (p == "month") return period_kind::month;
  throw api_error(http::status::bad_request, "bad_query", "period is day, week or month");
}

// Days start..end, inclusive, in one zone; a calendar month also names its month row.
struct day_range {
  day_number start = 0;
  day_number end = 0;
  std::string month;  // "YYYY-MM" when the range is that whole month
  bool contains(time_ms t, const date::time_zone* zone) const {
    auto d = parse_day(periods_of(t, zone).day);
    return d && *d >= start && *d <= end;
  }
};

// The current period in a zone: today; the 7 days ending today; this calendar month.
day_range current_range(period_kind k, time_ms now, const date::time_zone* zone) {
  const auto p = periods_of(now, zone);
  const day_number today = parse_day(p.day).value_or(0);
  switch (k) {
    case period_kind::day:
      return {today, today, {}};
    case period_kind::week:
      return {today - 6, today, {}};
    case period_kind::month:
      break;
  }
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{today}}};
  const std::chrono::year_month_day first{ymd.year(), ymd.month(), std::chrono::day{1}};
  const std::chrono::year_month_day_last last{ymd.year(), std::chrono::month_day_last{ymd.month()}};
  return {std::chrono::sys_days{first}.time_since_epoch().count(),
          std::chrono::sys_days{last}.time_since_epoch().count(), p.month};
}

// The totals of a scope over a range: its month row, or the sum of its day rows.
totals sum_in(live_view& live, const std::string& scope, const day_range& r) {
  if (!r.month.empty()) return live.get(totals_key(scope, window_month, r.month));
  totals t;
  for (day_number d = r.start; d <= r.end; ++d) {
    t += live.get(totals_key(scope, window_day, day_text(d)));
  }
  return t;
}

// The totals fields of every usage answer (the names of GET /teams/{id}/costs).
void write_totals(json_writer& w, const totals& t) {
  w.money("total_cost", nanos{t.cost_nanos});
  w.money("rejected_cost", nanos{t.rejected_cost_nanos});
  w.field("total_input_tokens", t.input_tokens).field("total_output_tokens", t.output_tokens);
  w.field("total_cache_creation_input_tokens", t.cache_creation_tokens);
  w.field("total_cache_read_input_tokens", t.cache_read_tokens);
  w.field("total_tokens", t.tokens());
  w.field("reports", t.events).field("rejected_reports", t.rejected_events);
  w.field("unpriced_reports", t.unpriced_events);
}

void write_runs(json_writer& w, std::int64_t runs, std::int64_t tokens) {
  w.field("run_count", runs);
  if (runs > 0) {
    w.field("avg_tokens_per_run", tokens / runs);
  } else {
    w.key("avg_tokens_per_run").null();
  }
}

bool any(const totals& t) {
  return t.events || t.rejected_events || t.cost_nanos || t.rejected_cost_nanos || t.tokens();
}

// "scope", "team_id"/"project_id", "period", "start", "end", "timezone" of an answer.
void write_header(json_writer& w, const usage_scope& s, std::string_view period, const day_range* r,
                  live_view& live) {
  w.field("scope", s.org ? "org" : "team");
  if (s.org) {
    w.key("team_id").null().key("project_id").null();
  } else {
    w.field("team_id", s.team.str()).field("project_id", s.team.str());
  }
  if (!period.empty()) w.field("period", period);
  if (r) {
    w.field("start", day_text(r->start)).field("end", day_text(r->end));
    if (s.org) {
      w.field("timezone", "UTC");
    } else {
      auto t = live.team(s.team);
      w.field("timezone", t ? t->timezone : "UTC");
    }
  } else {
    // Org-wide per-team views: every team counts in its own zone (see the entries).
    w.key("start").null().key("end").null().key("timezone").null();
  }
}

// The sessions of a team opened in a range (in the zone the range is in), per agent.
std::map<std::string, std::int64_t> runs_by_agent(live_view& live, const team_id& team,
                                                  const day_range& r, const date::time_zone* zone) {
  std::map<std::string, std::int64_t> out;
  for (auto& [id, s] : live.sessions(team)) {
    if (r.contains(s.opened_at, zone)) ++out[s.agent.str()];
  }
  return out;
}

std::int64_t sum_runs(const std::map<std::string, std::int64_t>& m) {
  std::int64_t n = 0;
  for (auto& [k, v] : m) n += v;
  return n;
}

// Entries sorted by cost, largest first, then by their key (the spec orders by total_cost).
template <class Entry>
void sort_by_cost(std::vector<Entry>& v) {
  std::sort(v.begin(), v.end(), [](const Entry& a, const Entry& b) {
    if (a.t.cost_nanos != b.t.cost_nanos) return a.t.cost_nanos > b.t.cost_nanos;
    return a.order < b.order;
  });
}

}  // namespace

usage_scope read_usage_scope(const request_ctx& ctx) {
  if (auto q = ctx.query.get("team_id"); q && !q->empty()) {
    if (!valid_id(*q)) {
      throw api_error(http::status::bad_request, "bad_query", "team_id is not a valid id");
    }
    team_id team{std::string(*q)};
    require(ctx, team, need::read);
    return {false, team};
  }
  if (ctx.caller.org_wide()) return {true, {}};
  if (ctx.caller.team.empty()) require_org_admin(ctx);  // throws: no team, not org-wide
  team_id team{ctx.caller.team};
  require(ctx, team, need::read);
  return {false, team};
}

void read_in_scope(api_deps& deps, const usage_scope& s, respond_fn respond,
                   const std::function<http_response(live_view&)>& read) {
  if (s.org) {
    std::optional<http_response> res;
    deps.ledger->with_state([&](live_view& live) { res = read(live); });
    respond(std::move(*res));
    return;
  }
  run_read(deps, s.team, std::move(respond), [&](live_view& live) {
    if (!live.team(s.team)) {
      return problem(http::status::not_found, "team_not_found", "Not found",
                     "no team " + s.team.str());
    }
    return read(live);
  });
}

std::vector<team_id> teams_in(live_view& live, const usage_scope& s) {
  if (!s.org) return {s.team};
  std::vector<team_id> out;
  for (auto& [id, t] : live.teams()) out.push_back(id);
  return out;
}

void write_percent(json_writer& w, std::string_view key, std::int64_t part,
                   std::optional<std::int64_t> whole) {
  const std::string bp_key = std::string(key) + "_bp";
  if (!whole || *whole <= 0 || part < 0) {
    w.key(key).null().key(bp_key).null();
    return;
  }
  // In 128 bits: a part of 10^15 nanos (a million dollars) times 10^4 overflows int64.
  const auto bp = static_cast<std::int64_t>(static_cast<__int128>(part) * 10'000 / *whole);
  std::string text = std::to_string(bp / 100);
  if (const auto frac = bp % 100; frac != 0) {
    text += '.';
    text += static_cast<char>('0' + frac / 10);
    if (frac % 10 != 0) text += static_cast<char>('0' + frac % 10);
  }
  w.key(key).raw(text).field(bp_key, bp);
}

void usage_summary(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  const usage_scope s = read_usage_scope(ctx);
  const period_kind kind = read_period(ctx);
  read_in_scope(deps, s, std::move(respond), [&](live_view& live) {
    const time_ms now = deps.clock();
    const auto* zone = s.org ? utc_zone() : team_zone(live, s.team);
    const day_range r = current_range(kind, now, zone);
    const totals t = sum_in(live, s.org ? std::string("g") : scope_team(s.team), r);
    std::int64_t runs = 0;
    for (auto& team : teams_in(live, s)) runs += sum_runs(runs_by_agent(live, team, r, zone));
    json_writer w;
    w.begin_object();
    write_header(w, s, period_name(kind), &r, live);
    write_totals(w, t);
    write_runs(w, runs, t.tokens());
    // The cost limit of the scope for the window, when one is set (none for a rolling week).
    std::optional<nanos> limit;
    if (kind != period_kind::week) {
      const limit_set l = s.org ? effective_global_limits(live, policy_of(deps))
                                : effective_team_limits(live, policy_of(deps), s.team);
      limit = kind == period_kind::day ? l.cost_per_day : l.cost_per_month;
    }
    w.money("cost_limit", limit);
    write_percent(w, "percent_of_limit", t.cost_nanos,
                  limit ? std::optional<std::int64_t>(limit->count) : std::nullopt);
    w.end_object();
    return json_text(http::status::ok, w.take());
  });
}

void usage_by_agent(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  const usage_scope s = read_usage_scope(ctx);
  const period_kind kind = read_period(ctx);
  read_in_scope(deps, s, std::move(respond), [&](live_view& live) {
    const time_ms now = deps.clock();
    struct entry {
      std::string order;
      team_id team;
      std::optional<agent_id> agent;  // none: usage of the team no agent row holds
      std::string name, type;
      totals t;
      std::int64_t runs = 0;
    };
    std::vector<entry> entries;
    totals all;
    std::int64_t all_runs = 0;
    for (auto& team : teams_in(live, s)) {
      const auto* zone = team_zone(live, team);
      const day_range r = current_range(kind, now, zone);
      const totals team_total = sum_in(live, scope_team(team), r);
      auto runs = runs_by_agent(live, team, r, zone);
      totals agents_total;
      for (auto& [id, a] : live.agents(team)) {
        entry e{team.str() + "/" + id.str(),
                team,
                id,
                a.name.empty() ? id.str() : a.name,
                a.type,
                sum_in(live, scope_agent(team, id), r),
                0};
        if (auto it = runs.find(id.str()); it != runs.end()) e.runs = it->second;
        agents_total += e.t;
        entries.push_back(std::move(e));
      }
      totals rest = team_total;
      rest -= agents_total;
      if (any(rest)) entries.push_back({team.str() + "/", team, std::nullopt, "", "", rest, 0});
      all += team_total;
      all_runs += sum_runs(runs);
    }
    sort_by_cost(entries);
    json_writer w;
    w.begin_object();
    if (s.org) {
      write_header(w, s, period_name(kind), nullptr, live);
    } else {
      const auto* zone = team_zone(live, s.team);
      const day_range r = current_range(kind, now, zone);
      write_header(w, s, period_name(kind), &r, live);
    }
    write_totals(w, all);
    write_runs(w, all_runs, all.tokens());
    w.key("agents").begin_array();
    for (auto& e : entries) {
      w.begin_object().field("team_id", e.team.str()).field("project_id", e.team.str());
      if (e.agent) {
        w.field("agent_id", e.agent->str()).field("name", e.name).field("agent_name", e.name);
        w.field("type", e.type);
      } else {
        // Usage reported without an agent (or under one not registered here).
        w.key("agent_id").null().key("name").null().key("agent_name").null().key("type").null();
      }
      write_totals(w, e.t);
      write_runs(w, e.runs, e.t.tokens());
      write_percent(w, "percent_of_total", e.t.cost_nanos, all.cost_nanos);
      w.end_object();
    }
    w.end_array().end_object();
    return json_text(http::status::ok, w.take());
  });
}

void usage_by_project(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  const usage_scope s = read_usage_scope(ctx);
  const period_kind kind = read_period(ctx);
  read_in_scope(deps, s, std::move(respond), [&](live_view& live) {
    const time_ms now = deps.clock();
    struct entry {
      std::string order;
      team_id team;
      team_record rec;
      day_range r;
      totals t;
      std::int64_t runs = 0;
    };
    std::vector<entry> entries;
    totals all;
    std::int64_t all_runs = 0;
    for (auto& team : teams_in(live, s)) {
      const auto* zone = team_zone(live, team);
      entry e{team.str(), team, live.team(team).value_or(team_record{}),
              current_range(kind, now, zone)};
      e.t = sum_in(live, scope_team(team), e.r);
      e.runs = sum_runs(runs_by_agent(live, team, e.r, zone));
      all += e.t;
      all_runs += e.runs;
      entries.push_back(std::move(e));
    }
    sort_by_cost(entries);
    json_writer w;
    w.begin_object();
    if (s.org) {
      write_header(w, s, period_name(kind), nullptr, live);
    } else {
      write_header(w, s, period_name(kind), &entries.at(0).r, live);
    }
    write_totals(w, all);
    write_runs(w, all_runs, all.tokens());
    w.key("projects").begin_array();
    for (auto& e : entries) {
      w.begin_object().field("project_id", e.team.str()).field("team_id", e.team.str());
      w.field("name", e.rec.name.empty() ? e.team.str() : e.rec.name);
      w.field("timezone", e.rec.timezone);
      w.field("start", day_text(e.r.start)).field("end", day_text(e.r.end));
      write_totals(w, e.t);
      write_runs(w, e.runs, e.t.tokens());
      write_percent(w, "percent_of_total", e.t.cost_nanos, all.cost_nanos);
      w.end_object();
    }
    w.end_array().end_object();
    return json_text(http::status::ok, w.take());
  });
}

void usage_by_model(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  const usage_scope s = read_usage_scope(ctx);
  const period_kind kind = read_period(ctx);
  read_in_scope(deps, s, std::move(respond), [&](live_view& live) {
    const time_ms now = deps.clock();
    const auto* zone = s.org ? utc_zone() : team_zone(live, s.team);
    const day_range r = current_range(kind, now, zone);
    // The models to look up: those the scope's sessions opened with, the pricing table's keys,
    // and "" (usage reported without a model).
    std::set<std::string> models{""};
    for (auto& team : teams_in(live, s)) {
      for (auto& [id, ses] : live.sessions(team)) models.insert(ses.model);
    }
    if (deps.pricing) {
      for (auto& v : deps.pricing->versions()) {
        for (auto& [key, price] : v.models) models.insert(key);
      }
    }
    const std::string total_scope = s.org ? std::string("g") : scope_team(s.team);
    const std::string prefix = s.org ? std::string("gm/") : "m/" + s.team.str() + "/";
    const totals total = sum_in(live, total_scope, r);
    struct entry {
      std::string order;
      std::optional<std::string> model;
      totals t;
    };
    std::vector<entry> entries;
    totals listed;
    for (auto& m : models) {
      entry e{m, m, sum_in(live, prefix + escape_component(m), r)};
      if (!any(e.t)) continue;
      listed += e.t;
      entries.push_back(std::move(e));
    }
    totals rest = total;
    rest -= listed;
    if (any(rest)) entries.push_back({"\x7f", std::nullopt, rest});
    sort_by_cost(entries);
    json_writer w;
    w.begin_object();
    write_header(w, s, period_name(kind), &r, live);
    write_totals(w, total);
    w.key("models").begin_array();
    for (auto& e : entries) {
      w.begin_object();
      if (e.model) {
        w.field("model", *e.model);
      } else {
        w.key("model").null();  // model ids no session of the scope opened with
      }
      write_totals(w, e.t);
      write_percent(w, "percent_of_total", e.t.cost_nanos, total.cost_nanos);
      w.end_object();
    }
    w.end_array().end_object();
    return json_text(http::status::ok, w.take());
  });
}

void usage_daily(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  const usage_scope s = read_usage_scope(ctx);
  std::optional<day_number> start_q, end_q;
  auto day_query = [&](std::string_view name) -> std::optional<day_number> {
    auto v = ctx.query.get(name);
    if (!v) return std::nullopt;
    auto d = parse_day(*v);
    if (!d) {
      throw api_error(http::status::bad_request, "bad_query",
                      std::string(name) + " must be a date YYYY-MM-DD");
    }
    return d;
  };
  start_q = day_query("start");
  end_q = day_query("end");
  read_in_scope(deps, s, std::move(respond), [&](live_view& live) {
    const auto* zone = s.org ? utc_zone() : team_zone(live, s.team);
    const day_range today = current_range(period_kind::day, deps.clock(), zone);
    // Defaults: the 30 days ending today (the spec's "last 30 days"), or 30 days from start.
    day_range r;
    r.end = end_q ? *end_q : start_q ? std::min(*start_q + 29, today.end) : today.end;
    r.start = start_q ? *start_q : r.end - 29;
    if (r.start > r.end) {
      return problem(http::status::bad_request, "bad_query", "Bad query", "start is after end");
    }
    if (r.end - r.start + 1 > max_daily_days) {
      return problem(http::status::bad_request, "bad_query", "Bad query",
                     "at most " + std::to_string(max_daily_days) + " days per request");
    }
    // Sessions opened per day, in the scope's zone.
    std::map<std::string, std::int64_t> runs;
    for (auto& team : teams_in(live, s)) {
      for (auto& [id, ses] : live.sessions(team)) ++runs[periods_of(ses.opened_at, zone).day];
    }
    const std::string scope = s.org ? std::string("g") : scope_team(s.team);
    json_writer w;
    w.begin_object();
    write_header(w, s, "", &r, live);
    totals all;
    std::int64_t all_runs = 0;
    std::vector<std::pair<std::string, totals>> days;
    for (day_number d = r.start; d <= r.end; ++d) {
      auto text = day_text(d);
      auto t = live.get(totals_key(scope, window_day, text));
      all += t;
      days.emplace_back(std::move(text), t);
    }
    write_totals(w, all);
    w.key("days").begin_array();
    for (auto& [text, t] : days) {
      w.begin_object().field("date", text);
      write_totals(w, t);
      auto it = runs.find(text);
      const std::int64_t n = it == runs.end() ? 0 : it->second;
      all_runs += n;
      write_runs(w, n, t.tokens());
      w.end_object();
    }
    w.end_array();
    write_runs(w, all_runs, all.tokens());
    w.end_object();
    return json_text(http::status::ok, w.take());
  });
}

}  // namespace tally::api
