#include "projections/run_log.h"

#include <algorithm>
#include <chrono>

#include "schemas/event_time.h"

namespace tally {

bool newer_run(const run_facts& a, const run_facts& b) {
  if (a.record.opened_at != b.record.opened_at) return a.record.opened_at > b.record.opened_at;
  return a.id.str() > b.id.str();
}

bool run_ended(session_status s) {
  return s == session_status::completed || s == session_status::failed ||
         s == session_status::terminated;
}

std::vector<run_facts> team_runs(live_view& live, const team_id& team) {
  std::vector<run_facts> out;
  for (auto& [id, rec] : live.sessions(team)) {
    run_facts r;
    r.used = live.get(totals_key(scope_session(team, id), window_lifetime, "-"));
    r.id = id;
    r.record = std::move(rec);
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), newer_run);
  return out;
}

std::map<agent_id, agent_run_stats> run_stats_by_agent(const std::vector<run_facts>& runs) {
  std::map<agent_id, std::vector<std::int64_t>> tokens;
  for (auto& r : runs) {
    if (run_ended(r.record.status)) tokens[r.record.agent].push_back(r.used.tokens());
  }
  std::map<agent_id, agent_run_stats> out;
  for (auto& [agent, t] : tokens) {
    std::sort(t.begin(), t.end());
    agent_run_stats s;
    s.ended_runs = t.size();
    const std::size_t mid = t.size() / 2;
    s.median_tokens = t.size() % 2 ? t[mid] : t[mid - 1] + (t[mid] - t[mid - 1]) / 2;
    if (t.size() >= high_token_min_runs) s.high_above = s.median_tokens * high_token_factor;
    out.emplace(agent, s);
  }
  return out;
}

const date::time_zone* team_zone_of(live_view& live, const team_id& team) {
  auto t = live.team(team);
  const date::time_zone* z = find_zone(t ? t->timezone : "UTC");
  return z ? z : find_zone("UTC");
}

month_progress month_progress_of(time_ms t, const date::time_zone* zone) {
  const auto p = periods_of(t, zone);
  month_progress m;
  m.month = p.month;
  const int y = std::stoi(p.day.substr(0, 4));
  const unsigned mo = static_cast<unsigned>(std::stoi(p.day.substr(5, 2)));
  m.day = std::stoi(p.day.substr(8, 2));
  const std::chrono::year_month_day_last last{std::chrono::year{y},
                                              std::chrono::month_day_last{std::chrono::month{mo}}};
  m.days = static_cast<int>(static_cast<unsigned>(last.day()));
  return m;
}

std::vector<run_facts> runs_in_month(const std::vector<run_facts>& runs, const month_progress& p,
                                     const date::time_zone* zone) {
  std::vector<run_facts> out;
  for (auto& r : runs) {
    if (periods_of(r.record.opened_at, zone).month == p.month) out.push_back(r);
  }
  return out;
}

}  // namespace tally
