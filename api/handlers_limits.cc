// The limits of the cost-management spec (seeds/003): GET and PUT /api/v1/limits in its
// config.yaml shape, and GET /api/v1/limits/status, usage against every limit in force.
//
//   {"limits": {"global": L, "per_project": {"default": L}, "per_agent": {"default": L, <agent>:
//   L}},
//    "projects": {<team>: {"limits": L}}}
//   L = {"max_cost_per_day": 50, "max_cost_per_day_nanos": 50000000000, "max_cost_per_month",
//        "max_cost_per_run" (each with _nanos), "max_tokens_per_day", "max_tokens_per_month",
//        "max_tokens_per_run", "max_concurrent_agents"}; null = no limit.
//
// GET answers the limits in force (LimitsSet events first, then config.yaml): everything for an
// org-wide admin, the team and its agents for a team credential. PUT takes the same shape; each
// scope it names is merged key by key over the limits in force (absent: unchanged, null: no
// limit) and, when that changes them, becomes one LimitsSet event decided in the scope's team.
// The defaults (per_project.default, per_agent.default) come from config.yaml only: a PUT may
// repeat them unchanged (a GET-modify-PUT round trip) but not change them.
#include <map>
#include <mutex>
#include <set>

#include <simdjson.h>

#include "api/handlers.h"
#include "schemas/event_time.h"

namespace tally::api {
namespace {

namespace od = simdjson::ondemand;

const limit_policy& policy_of(const api_deps& deps) {
  static const limit_policy none;
  return deps.policy ? *deps.policy : none;
}

// One limit set as config.yaml spells it, money as exact USD with its nanos beside.
void write_config_limits(json_writer& w, const limit_set& l) {
  w.begin_object();
  auto money = [&](std::string_view k, const std::optional<nanos>& v) {
    const std::string nk = std::string(k) + "_nanos";
    if (v) {
      w.key(k).usd(*v).field(nk, v->count);
    } else {
      w.key(k).null().key(nk).null();
    }
  };
  auto count = [&](std::string_view k, const std::optional<std::int64_t>& v) {
    if (v) {
      w.field(k, *v);
    } else {
      w.key(k).null();
    }
  };
  money("max_cost_per_day", l.cost_per_day);
  money("max_cost_per_month", l.cost_per_month);
  money("max_cost_per_run", l.cost_per_run);
  count("max_tokens_per_day", l.tokens_per_day);
  count("max_tokens_per_month", l.tokens_per_month);
  count("max_tokens_per_run", l.tokens_per_run);
  count("max_concurrent_agents", l.max_concurrent_sessions);
  w.end_object();
}

[[noreturn]] void bad_field(const std::string& where, const std::string& why) {
  throw api_error(http::status::unprocessable_entity, "bad_field", where + ": " + why);
}

// The members of a JSON object, each an object given as its text (null and other values are
// refused: every level of the limits shape is an object).
struct member {
  std::string key;
  std::string raw;
};

std::vector<member> members_of(std::string_view json, const std::string& where) {
  auto malformed = [&] {
    throw api_error(http::status::bad_request, "malformed_json", where + " is not valid JSON");
  };
  simdjson::padded_string padded(json);
  od::parser parser;
  od::document doc;
  od::object obj;
  if (parser.iterate(padded).get(doc) || doc.get_object().get(obj)) {
    throw api_error(http::status::bad_request, "malformed_json", where + " must be a JSON object");
  }
  std::vector<member> out;
  std::set<std::string> seen;
  for (auto f : obj) {
    std::string_view key;
    od::value v;
    if (f.unescaped_key().get(key) || f.value().get(v)) malformed();
    const std::string path = where == "body" ? std::string(key) : where + "." + std::string(key);
    if (!seen.insert(std::string(key)).second) {
      throw api_error(http::status::bad_request, "malformed_json", path + " appears twice");
    }
    od::json_type t;
    if (v.type().get(t)) malformed();
    if (t != od::json_type::object) bad_field(path, "must be an object");
    od::object inner;
    std::string_view raw;
    if (v.get_object().get(inner) || inner.raw_json().get(raw)) malformed();
    out.push_back({std::string(key), std::string(raw)});
  }
  return out;
}

// A change to one slot: absent (unchanged), null (no limit) or a value.
template <class T>
using slot_change = std::optional<std::optional<T>>;

struct limit_patch {
  slot_change<nanos> cost_per_day, cost_per_month, cost_per_run;
  slot_change<std::int64_t> tokens_per_day, tokens_per_month, tokens_per_run, concurrent;

  limit_set over(limit_set l) const {
    auto put = [](auto& slot, const auto& c) {
      if (c) slot = *c;
    };
    put(l.cost_per_day, cost_per_day);
    put(l.cost_per_month, cost_per_month);
    put(l.cost_per_run, cost_per_run);
    put(l.tokens_per_day, tokens_per_day);
    put(l.tokens_per_month, tokens_per_month);
    put(l.tokens_per_run, tokens_per_run);
    put(l.max_concurrent_sessions, concurrent);
    return l;
  }
};

// One limits object L. Money in USD (exact from the number's text) under the config name, its
// _usd spelling or the config aliases, or in nanos; spellings of one limit must agree.
limit_patch read_patch(std::string_view raw, const std::string& where) {
  limit_patch p;
  try {
    auto b = request_body::parse(raw);
    b.allow_only({"max_cost_per_day", "max_cost_per_day_usd", "max_cost_per_day_nanos",
                  "daily_cost_limit_usd", "max_cost_per_month", "max_cost_per_month_usd",
                  "max_cost_per_month_nanos", "monthly_cost_limit_usd", "monthly_budget_cents",
                  "max_cost_per_run", "max_cost_per_run_usd", "max_cost_per_run_nanos",
                  "max_tokens_per_day", "max_tokens_per_month", "max_tokens_per_run",
                  "max_concurrent_agents"});
    auto money = [&](slot_change<nanos>& slot, std::initializer_list<std::string_view> usd_keys,
                     std::string_view nanos_key, std::string_view cents_key = {}) {
      auto take = [&](std::string_view k, std::optional<nanos> v) {
        if (v && v->count < 0) bad_field(where + "." + std::string(k), "limits are never negative");
        if (slot && *slot != v) {
          bad_field(where + "." + std::string(k), "disagrees with another spelling of this limit");
        }
        slot = v;
      };
      for (auto k : usd_keys) {
        if (b.has(k)) take(k, b.usd(k));
      }
      if (b.has(nanos_key)) {
        auto n = b.integer(nanos_key);
        take(nanos_key, n ? std::optional<nanos>(nanos{*n}) : std::nullopt);
      }
      if (!cents_key.empty() && b.has(cents_key)) take(cents_key, b.cents(cents_key));
    };
    auto count = [&](slot_change<std::int64_t>& slot, std::string_view k) {
      if (!b.has(k)) return;
      auto v = b.integer(k);
      if (v && *v < 0) bad_field(where + "." + std::string(k), "limits are never negative");
      slot = v;
    };
    money(p.cost_per_day, {"max_cost_per_day", "max_cost_per_day_usd", "daily_cost_limit_usd"},
          "max_cost_per_day_nanos");
    money(p.cost_per_month,
          {"max_cost_per_month", "max_cost_per_month_usd", "monthly_cost_limit_usd"},
          "max_cost_per_month_nanos", "monthly_budget_cents");
    money(p.cost_per_run, {"max_cost_per_run", "max_cost_per_run_usd"}, "max_cost_per_run_nanos");
    count(p.tokens_per_day, "max_tokens_per_day");
    count(p.tokens_per_month, "max_tokens_per_month");
    count(p.tokens_per_run, "max_tokens_per_run");
    count(p.concurrent, "max_concurrent_agents");
  } catch (const api_error& e) {
    if (std::string_view(e.what()).starts_with(where)) throw;
    throw api_error(e.status, e.slug, where + ": " + e.what());
  }
  return p;
}

// One scope a PUT names.
struct scope_change {
  limit_scope scope = limit_scope::team;
  team_id team;    // the team whose partition decides it (empty for global)
  std::string id;  // the team or agent id; empty for global
  limit_patch patch;

  std::string name() const {
    return scope == limit_scope::global ? std::string("global")
           : scope == limit_scope::team ? "team:" + id
                                        : "agent:" + id;
  }
};

limit_set in_force(live_view& live, const limit_policy& policy, const scope_change& c) {
  switch (c.scope) {
    case limit_scope::global:
      return effective_global_limits(live, policy);
    case limit_scope::team:
      return effective_team_limits(live, policy, team_id{c.id});
    case limit_scope::agent:
      break;
  }
  return effective_agent_limits(live, policy, agent_id{c.id});
}

// The scopes of a PUT body, in body order; nothing is decided yet.
std::vector<scope_change> read_put_body(std::string_view body, const limit_policy& policy) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) body = "{}";
  std::vector<scope_change> out;
  std::set<std::string> teams;
  auto team_change = [&](const std::string& id, const std::string& raw, const std::string& where) {
    if (!valid_id(id)) bad_field(where, "is not a valid team id");
    if (!teams.insert(id).second) bad_field(where, "limits of this team are given twice");
    out.push_back({limit_scope::team, team_id{id}, id, read_patch(raw, where)});
  };
  auto same_default = [&](const std::string& raw, const std::string& where, const limit_set& l) {
    if (read_patch(raw, where).over(l) != l) {
      throw api_error(http::status::unprocessable_entity, "default_from_config",
                      where +
                          " comes from config.yaml and cannot be changed here: set the limits "
                          "of each team (projects.<id>.limits) or agent (per_agent.<id>)");
    }
  };
  bool have_projects = false;
  for (auto& m : members_of(body, "body")) {
    if (m.key == "limits") {
      bool have_team_section = false;
      for (auto& l : members_of(m.raw, "limits")) {
        const std::string where = "limits." + l.key;
        if (l.key == "global") {
          out.push_back({limit_scope::global, team_id{}, "", read_patch(l.raw, where)});
        } else if (l.key == "per_project" || l.key == "per_team" || l.key == "per_workspace") {
          if (have_team_section) {
            bad_field(where, "use one of per_project, per_team, per_workspace (same thing)");
          }
          have_team_section = true;
          for (auto& t : members_of(l.raw, where)) {
            if (t.key == "default") {
              same_default(t.raw, where + ".default", policy.team_default);
            } else {
              team_change(t.key, t.raw, where + "." + t.key);
            }
          }
        } else if (l.key == "per_agent") {
          for (auto& a : members_of(l.raw, where)) {
            if (a.key == "default") {
              same_default(a.raw, where + ".default", policy.agent_default);
              continue;
            }
            if (!valid_id(a.key)) bad_field(where + "." + a.key, "is not a valid agent id");
            out.push_back(
                {limit_scope::agent, team_id{}, a.key, read_patch(a.raw, where + "." + a.key)});
          }
        } else {
          throw api_error(http::status::unprocessable_entity, "unknown_field",
                          "unknown field " + where +
                              " (global, per_project, per_team, per_workspace, per_agent)");
        }
      }
    } else if (m.key == "projects" || m.key == "teams" || m.key == "workspaces") {
      if (have_projects) bad_field(m.key, "use one of projects, teams, workspaces (same thing)");
      have_projects = true;
      for (auto& t : members_of(m.raw, m.key)) {
        const std::string where = m.key + "." + t.key;
        for (auto& f : members_of(t.raw, where)) {
          if (f.key != "limits") {
            throw api_error(http::status::unprocessable_entity, "unknown_field",
                            "unknown field " + where + "." + f.key + " (limits)");
          }
          team_change(t.key, f.raw, where + ".limits");
        }
      }
    } else {
      throw api_error(http::status::unprocessable_entity, "unknown_field",
                      "unknown field " + m.key + " (limits, projects)");
    }
  }
  return out;
}

// The event id of one scope's LimitsSet: derived from the Idempotency-Key when given (a retried
// PUT is the same facts), else fresh.
event_id scope_event_id(const request_ctx& ctx, const scope_change& c) {
  std::string key(ctx.req["Idempotency-Key"]);
  if (key.empty()) return event_id{new_id("api-")};
  std::string id = key + "." +
                   (c.scope == limit_scope::global ? std::string("g")
                    : c.scope == limit_scope::team ? "t." + c.id
                                                   : "a." + c.id);
  if (!valid_id(key) || !valid_id(id)) {
    throw api_error(http::status::unprocessable_entity, "bad_field",
                    "Idempotency-Key must be printable characters without '/', short enough to "
                    "name each scope's event (200 characters in all)");
  }
  return event_id{id};
}

// What a PUT does while it runs: one command per scope, answered together once all are.
struct put_progress {
  std::mutex m;
  std::size_t left = 0;
  std::optional<http_response> failure;
  std::vector<scope_change> changes;
  std::vector<std::optional<limit_set>> now_in_force;
  std::vector<bool> changed;
  respond_fn respond;
};

http_response put_answer(const put_progress& p) {
  json_writer w;
  w.begin_object();
  auto names = [&](std::string_view key, bool changed) {
    w.key(key).begin_array();
    for (std::size_t i = 0; i < p.changes.size(); ++i) {
      if (p.changed[i] == changed) w.string(p.changes[i].name());
    }
    w.end_array();
  };
  names("changed", true);
  names("unchanged", false);
  // The limits now in force of the scopes the body named, in the GET shape.
  w.key("limits").begin_object();
  for (std::size_t i = 0; i < p.changes.size(); ++i) {
    if (p.changes[i].scope != limit_scope::global || !p.now_in_force[i]) continue;
    w.key("global");
    write_config_limits(w, *p.now_in_force[i]);
  }
  w.key("per_agent").begin_object();
  for (std::size_t i = 0; i < p.changes.size(); ++i) {
    if (p.changes[i].scope != limit_scope::agent || !p.now_in_force[i]) continue;
    w.key(p.changes[i].id);
    write_config_limits(w, *p.now_in_force[i]);
  }
  w.end_object().end_object();
  w.key("projects").begin_object();
  for (std::size_t i = 0; i < p.changes.size(); ++i) {
    if (p.changes[i].scope != limit_scope::team || !p.now_in_force[i]) continue;
    w.key(p.changes[i].id).begin_object().key("limits");
    write_config_limits(w, *p.now_in_force[i]);
    w.end_object();
  }
  w.end_object().end_object();
  return json_text(http::status::ok, w.take());
}

}  // namespace

void get_limits(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  const usage_scope s = read_usage_scope(ctx);
  read_in_scope(deps, s, std::move(respond), [&](live_view& live) {
    const auto& policy = policy_of(deps);
    std::map<std::string, limit_set> teams, agents;
    for (auto& team : teams_in(live, s)) {
      teams[team.str()] = effective_team_limits(live, policy, team);
      for (auto& [id, a] : live.agents(team)) {
        agents[id.str()] = effective_agent_limits(live, policy, id);
      }
    }
    if (s.org) {
      // Teams and agents config.yaml names before they exist in the ledger.
      for (auto& [id, l] : policy.teams) {
        teams.try_emplace(id, effective_team_limits(live, policy, team_id{id}));
      }
      for (auto& [id, l] : policy.agents) {
        agents.try_emplace(id, effective_agent_limits(live, policy, agent_id{id}));
      }
    }
    json_writer w;
    w.begin_object().key("limits").begin_object();
    if (s.org) {
      w.key("global");
      write_config_limits(w, effective_global_limits(live, policy));
      w.key("per_project").begin_object().key("default");
      write_config_limits(w, policy.team_default);
      w.end_object();
    }
    w.key("per_agent").begin_object();
    if (s.org) {
      w.key("default");
      write_config_limits(w, policy.agent_default);
    }
    for (auto& [id, l] : agents) {
      w.key(id);
      write_config_limits(w, l);
    }
    w.end_object().end_object();
    w.key("projects").begin_object();
    for (auto& [id, l] : teams) {
      w.key(id).begin_object().key("limits");
      write_config_limits(w, l);
      w.end_object();
    }
    w.end_object().end_object();
    return json_text(http::status::ok, w.take());
  });
}

void put_limits(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  const auto& policy = policy_of(deps);
  if (ctx.caller.who != role::admin) {
    throw api_error(http::status::forbidden, "forbidden", "setting limits needs an admin key");
  }
  auto changes = read_put_body(ctx.req.body(), policy);
  // Permission first (a credential of another team learns nothing about this one), then which
  // team decides each scope and whether it exists: all checked before anything is decided, so
  // a refused PUT changes nothing.
  for (auto& c : changes) {
    if (c.scope == limit_scope::global) require_org_admin(ctx);
    if (c.scope == limit_scope::team) require(ctx, c.team, need::admin);
  }
  std::optional<api_error> missing;
  std::vector<scope_change> todo;
  deps.ledger->with_state([&](live_view& live) {
    for (auto& c : changes) {
      const limit_set current = in_force(live, policy, c);
      const bool unchanged = c.patch.over(current) == current;
      if (c.scope == limit_scope::team && !live.team(c.team)) {
        // A team config.yaml names but nobody created yet: fine while it is left as it is.
        if (policy.teams.contains(c.id) && unchanged) continue;
        missing.emplace(http::status::not_found, "team_not_found", "no team " + c.id);
        return;
      }
      if (c.scope == limit_scope::agent) {
        auto t = live.agent_team(agent_id{c.id});
        if (!t) {
          if (policy.agents.contains(c.id) && unchanged) continue;
          missing.emplace(http::status::not_found, "agent_not_found", "no agent " + c.id);
          return;
        }
        c.team = *t;
      }
      todo.push_back(c);
    }
  });
  if (missing) throw *missing;
  for (auto& c : todo) {
    if (c.scope == limit_scope::agent) require(ctx, c.team, need::admin);
  }
  std::vector<event_id> ids;
  for (auto& c : todo) ids.push_back(scope_event_id(ctx, c));

  auto p = std::make_shared<put_progress>();
  p->left = todo.size();
  p->changes = std::move(todo);
  p->now_in_force.resize(p->changes.size());
  p->changed.resize(p->changes.size());
  p->respond = std::move(respond);
  if (p->changes.empty()) {
    p->respond(put_answer(*p));
    return;
  }
  for (std::size_t i = 0; i < p->changes.size(); ++i) {
    const scope_change& c = p->changes[i];
    run_command(
        deps, c.team,
        [p](http_response res) {
          std::unique_lock lock(p->m);
          if (res.result() != http::status::ok && !p->failure) p->failure = std::move(res);
          if (--p->left > 0) return;
          lock.unlock();
          // Every scope has answered: the first failure, or what is now in force.
          p->respond(p->failure ? std::move(*p->failure) : put_answer(*p));
        },
        [&](live_view& live) {
          const limit_set current = in_force(live, policy, c);
          const limit_set next = c.patch.over(current);
          if (next == current) return command_decision{};
          return decide_set_limits(live, {deps.policy, deps.clock(), deps.source, ids[i]},
                                   limits_set{c.team, c.scope, c.id, next});
        },
        [&](live_view& live, const command_decision& d) {
          std::lock_guard lock(p->m);
          p->now_in_force[i] = in_force(live, policy, c);
          p->changed[i] = !d.events.empty();
          return json_text(http::status::ok, "{}");
        });
  }
}

void limits_status(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  const usage_scope s = read_usage_scope(ctx);
  read_in_scope(deps, s, std::move(respond), [&](live_view& live) {
    const auto& policy = policy_of(deps);
    const time_ms now = deps.clock();
    struct line {
      budget_line b;
      std::string_view type;
      std::string team, agent;
    };
    std::vector<line> lines;
    auto take = [&](const budget_view& v, const std::string& scope, std::string_view type,
                    const std::string& team, const std::string& agent) {
      for (auto& b : v.lines) {
        if (b.scope == scope) lines.push_back({b, type, team, agent});
      }
    };
    // Concurrency: active sessions against max_concurrent_agents, now.
    auto concurrency = [&](const std::optional<std::int64_t>& limit, std::int64_t active,
                           const std::string& scope, std::string_view type, const std::string& team,
                           const std::string& agent) {
      if (!limit) return;
      budget_line b{scope,  "now",           "concurrent_sessions",
                    *limit, active,          std::max<std::int64_t>(0, *limit - active),
                    0,      active >= *limit};
      lines.push_back({std::move(b), type, team, agent});
    };
    const auto teams = teams_in(live, s);
    std::map<std::string, std::int64_t> active_by_team, active_by_agent;
    std::int64_t active_all = 0;
    for (auto& team : teams) {
      for (auto& [id, ses] : live.sessions(team)) {
        if (ses.status != session_status::active) continue;
        ++active_all;
        ++active_by_team[team.str()];
        ++active_by_agent[ses.agent.str()];
      }
    }
    if (s.org) {
      take(budget_of(live, policy, team_id{}, agent_id{}, task_id{}, now), "global", "global", "",
           "");
      concurrency(effective_global_limits(live, policy).max_concurrent_sessions, active_all,
                  "global", "global", "", "");
    }
    for (auto& team : teams) {
      const std::string tname = "team:" + team.str();
      take(budget_of(live, policy, team, agent_id{}, task_id{}, now), tname, "team", team.str(),
           "");
      concurrency(effective_team_limits(live, policy, team).max_concurrent_sessions,
                  active_by_team[team.str()], tname, "team", team.str(), "");
      for (auto& [id, a] : live.agents(team)) {
        const std::string aname = "agent:" + id.str();
        take(budget_of(live, policy, team, id, task_id{}, now), aname, "agent", team.str(),
             id.str());
        concurrency(effective_agent_limits(live, policy, id).max_concurrent_sessions,
                    active_by_agent[id.str()], aname, "agent", team.str(), id.str());
      }
    }
    bool over = false;
    for (auto& l : lines) over = over || (l.b.reached && l.b.metric != "concurrent_sessions");
    json_writer w;
    w.begin_object().field("scope", s.org ? "org" : "team");
    if (s.org) {
      w.key("team_id").null();
    } else {
      w.field("team_id", s.team.str());
    }
    w.field("checked_at", format_rfc3339(now)).field("over_budget", over);
    w.key("limits").begin_array();
    for (auto& [b, type, team, agent] : lines) {
      w.begin_object().field("scope", b.scope).field("scope_type", type);
      if (team.empty()) {
        w.key("team_id").null();
      } else {
        w.field("team_id", team);
      }
      if (agent.empty()) {
        w.key("agent_id").null();
      } else {
        w.field("agent_id", agent);
      }
      w.field("window", b.window).field("metric", b.metric);
      if (b.metric == "cost") {
        w.money("limit", nanos{b.limit}).money("spent", nanos{b.spent});
        w.money("reserved", nanos{b.reserved}).money("remaining", nanos{b.remaining});
      } else {
        w.field("limit", b.limit).field("spent", b.spent).field("remaining", b.remaining);
      }
      write_percent(w, "percent", b.spent, b.limit);
      if (b.resets_at) {
        w.field("resets_at", format_rfc3339(b.resets_at));
      } else {
        w.key("resets_at").null();
      }
      w.field("reached", b.reached).end_object();
    }
    w.end_array().end_object();
    return json_text(http::status::ok, w.take());
  });
}

}  // namespace tally::api
