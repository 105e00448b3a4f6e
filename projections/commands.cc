#include "projections/commands.h"

#include "projections/thresholds.h"
#include "projections/slots.h"
#include "schemas/event_time.h"

namespace tally {
namespace {

command_decision refuse(refusal r, std::string code, std::string detail) {
  command_decision d;
  d.refused = r;
  d.code = std::move(code);
  d.detail = std::move(detail);
  return d;
}

command_decision accept(const command_context& ctx, event_payload payload) {
  command_decision d;
  event e;
  e.id = ctx.id;
  e.time = ctx.now;
  e.source = ctx.source;
  e.payload = std::move(payload);
  d.events.push_back(std::move(e));
  return d;
}

}  // namespace

budget_tag budget_from_tags(const std::vector<std::string>& tags) {
  budget_tag out;
  for (auto& t : tags) {
    constexpr std::string_view prefix = "budget:";
    if (!t.starts_with(prefix)) continue;
    auto v = parse_usd(std::string_view(t).substr(prefix.size()));
    if (!v || v->count < 0) {
      out.malformed = true;
      return out;
    }
    out.budget = *v;
  }
  return out;
}

command_decision decide_create_team(live_view& live, const command_context& ctx,
                                    const team_created& c) {
  if (!valid_id(c.team.str())) return refuse(refusal::invalid, "bad_id", "invalid team id");
  if (!find_zone(c.timezone)) {
    return refuse(refusal::invalid, "bad_timezone", "unknown IANA time zone: " + c.timezone);
  }
  if (auto t = live.team(c.team)) {
    if (t->name == c.name && t->timezone == c.timezone) return {};  // the same fact again
    return refuse(refusal::conflict, "team_exists", "team " + c.team.str() + " already exists");
  }
  return accept(ctx, c);
}

command_decision decide_register_agent(live_view& live, const command_context& ctx,
                                       const agent_registered& c) {
  if (!valid_id(c.agent.str())) return refuse(refusal::invalid, "bad_id", "invalid agent id");
  if (!live.team(c.team)) {
    return refuse(refusal::not_found, "team_not_found", "no team " + c.team.str());
  }
  if (auto a = live.agent(c.agent)) {
    if (a->team != c.team) {
      return refuse(refusal::conflict, "agent_in_other_team",
                    "agent " + c.agent.str() + " belongs to another team");
    }
    if (a->name == c.name && a->type == c.type) return {};
    return refuse(refusal::conflict, "agent_exists", "agent " + c.agent.str() + " exists");
  }
  // Reports may have used the agent id before it was registered (the fold registers it
  // implicitly): registering it now in its own team is fine, in another team is not.
  if (auto t = live.agent_team(c.agent); t && *t != c.team) {
    return refuse(refusal::conflict, "agent_in_other_team",
                  "agent " + c.agent.str() + " belongs to another team");
  }
  return accept(ctx, c);
}

command_decision decide_create_task(live_view& live, const command_context& ctx, task_created c) {
  if (!live.team(c.team)) {
    return refuse(refusal::not_found, "team_not_found", "no team " + c.team.str());
  }
  if (c.task.empty()) c.task = task_id{std::to_string(live.task_count(c.team) + 1)};
  if (!valid_id(c.task.str())) return refuse(refusal::invalid, "bad_id", "invalid task id");
  if (live.task(c.team, c.task)) {
    return refuse(refusal::conflict, "task_exists", "task " + c.task.str() + " exists");
  }
  if (!c.budget) {
    auto tag = budget_from_tags(c.tags);
    if (tag.malformed) {
      return refuse(refusal::invalid, "bad_budget_tag",
                    "a budget tag is budget:<USD>, e.g. budget:0.50");
    }
    c.budget = tag.budget;
  }
  return accept(ctx, c);
}

command_decision decide_open_session(live_view& live, const command_context& ctx,
                                     const session_opened& c) {
  if (!valid_id(c.session.str())) return refuse(refusal::invalid, "bad_id", "invalid session id");
  auto agent = live.agent(c.agent);
  if (!agent) return refuse(refusal::not_found, "agent_not_found", "no agent " + c.agent.str());
  if (agent->team != c.team) {
    return refuse(refusal::conflict, "agent_in_other_team", "the agent is in another team");
  }
  if (auto t = live.session_team(c.session)) {
    auto s = *t == c.team ? live.session(c.team, c.session) : std::nullopt;
    if (s && s->agent == c.agent && s->task == c.task && s->model == c.model &&
        s->effort == c.effort) {
      return {};  // the same request again (a retry): nothing to do
    }
    return refuse(refusal::conflict, "session_exists", "session " + c.session.str() + " exists");
  }
  static const limit_policy no_policy;
  auto view =
      budget_of(live, ctx.policy ? *ctx.policy : no_policy, c.team, c.agent, c.task, ctx.now);
  for (auto& line : view.lines) {
    // Held reservations count as spent (reservations.h).
    if (line.spent + line.reserved < line.limit) continue;
    auto d = refuse(
        refusal::over_budget, "limit_reached",
        "the " + line.window + " " + line.metric + " limit of " + line.scope + " is reached");
    d.limit = line;
    return d;
  }
  // Sessions already queued go first (slots.h); the new one is queued when no slot is left.
  const limit_policy& policy = ctx.policy ? *ctx.policy : no_policy;
  auto activations = activate_queued(live, policy, c.team, ctx.now, ctx.source, {});
  session_opened opened = c;
  with_tentative(live, activations, [&] {
    opened.queued = concurrency_reached(live, policy, c.team, c.agent).has_value();
  });
  auto d = accept(ctx, opened);
  for (auto& a : activations) d.events.push_back(std::move(a));
  return d;
}

namespace {

// Appends to an accepted decision the activations of queued sessions its events allow.
command_decision with_activations(live_view& live, const command_context& ctx, const team_id& team,
                                  command_decision d) {
  static const limit_policy no_policy;
  if (d.refused != refusal::none || d.events.empty()) return d;
  auto acts = activate_queued(live, ctx.policy ? *ctx.policy : no_policy, team, ctx.now, ctx.source,
                              d.events);
  for (auto& a : acts) d.events.push_back(std::move(a));
  return d;
}

}  // namespace

command_decision decide_end_session(live_view& live, const command_context& ctx,
                                    const session_ended& c) {
  auto s = live.session(c.team, c.session);
  if (!s) return refuse(refusal::not_found, "session_not_found", "no session " + c.session.str());
  if (s->status != session_status::active && s->status != session_status::queued) {
    if (s->status == c.status) return {};  // ended the same way already: a retry
    return refuse(refusal::conflict, "session_not_active",
                  "session " + c.session.str() + " is " + std::string(to_string(s->status)));
  }
  return with_activations(live, ctx, c.team, accept(ctx, c));
}

command_decision decide_set_limits(live_view& live, const command_context& ctx,
                                   const limits_set& c) {
  if (c.scope == limit_scope::team && !live.team(c.team)) {
    return refuse(refusal::not_found, "team_not_found", "no team " + c.team.str());
  }
  if (c.scope == limit_scope::agent) {
    auto a = live.agent(agent_id{c.scope_id});
    if (!a) return refuse(refusal::not_found, "agent_not_found", "no agent " + c.scope_id);
    if (a->team != c.team) {
      return refuse(refusal::conflict, "agent_in_other_team", "the agent is in another team");
    }
  }
  auto bad = [](const std::optional<nanos>& n) { return n && n->count < 0; };
  auto bad_i = [](const std::optional<std::int64_t>& n) { return n && *n < 0; };
  const auto& l = c.limits;
  if (bad(l.cost_per_day) || bad(l.cost_per_month) || bad(l.cost_per_run) ||
      bad_i(l.tokens_per_day) || bad_i(l.tokens_per_month) || bad_i(l.tokens_per_run) ||
      bad_i(l.max_concurrent_sessions)) {
    return refuse(refusal::invalid, "negative_limit", "limits are never negative");
  }
  static const limit_policy no_policy;
  auto d = with_activations(live, ctx, c.team, accept(ctx, c));
  add_limit_change_alerts(live, ctx.policy ? *ctx.policy : no_policy, c, d.events.front(),
                          d.events);
  return d;
}

}  // namespace tally
