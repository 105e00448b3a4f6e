// Teams, agents, tasks and their limits.
#include "api/handlers.h"

namespace tally::api {
namespace {

void write_team(json_writer& w, const team_id& id, const team_record& t) {
  w.begin_object().field("id", id.str()).field("name", t.name).field("timezone", t.timezone);
  w.end_object();
}

void write_agent(json_writer& w, const agent_id& id, const agent_record& a) {
  w.begin_object().field("id", id.str()).field("team_id", a.team.str());
  w.field("name", a.name.empty() ? id.str() : a.name).field("type", a.type).end_object();
}

void write_task(json_writer& w, const team_id& team, const task_id& id, const task_record& t,
                live_view& live) {
  auto spent = live.get(totals_key(scope_task(team, id), window_lifetime, "-"));
  w.begin_object().field("id", id.str()).field("team_id", team.str()).field("title", t.title);
  w.field("priority", t.priority).field("task_type", t.task_type);
  w.key("tags").begin_array();
  for (auto& tag : t.tags) w.string(tag);
  w.end_array();
  w.money("budget", t.budget);
  w.money("spent", nanos{spent.cost_nanos});
  w.end_object();
}

http_response json_ok(http::status s, json_writer& w) {
  return json_text(s, w.take());
}

// Applies the limit fields of a PATCH body over current limits; null removes one.
limit_set patch_limits(limit_set l, const request_body& b) {
  auto money = [&](std::string_view k, std::optional<nanos>& v) {
    if (b.is_null(k)) v.reset();
    if (auto x = b.usd(k)) v = *x;
  };
  auto count = [&](std::string_view k, std::optional<std::int64_t>& v) {
    if (b.is_null(k)) v.reset();
    if (auto x = b.integer(k)) v = *x;
  };
  money("daily_cost_limit_usd", l.cost_per_day);
  money("monthly_cost_limit_usd", l.cost_per_month);
  money("monthly_budget_usd", l.cost_per_month);
  money("max_cost_per_run_usd", l.cost_per_run);
  if (b.is_null("monthly_budget_cents")) l.cost_per_month.reset();
  if (auto c = b.cents("monthly_budget_cents")) l.cost_per_month = *c;
  count("daily_token_limit", l.tokens_per_day);
  count("monthly_token_limit", l.tokens_per_month);
  count("max_tokens_per_run", l.tokens_per_run);
  count("max_concurrent_agents", l.max_concurrent_sessions);
  return l;
}

void check_only_limits(const request_body& b) {
  b.allow_only({"daily_cost_limit_usd", "monthly_cost_limit_usd", "monthly_budget_usd",
                "max_cost_per_run_usd", "monthly_budget_cents", "daily_token_limit",
                "monthly_token_limit", "max_tokens_per_run", "max_concurrent_agents"});
}

}  // namespace

void create_team(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  require_org_admin(ctx);
  auto b = body_of(ctx);
  b.allow_only({"id", "name", "timezone"});
  auto id = b.id("id");
  if (!id) throw api_error(http::status::unprocessable_entity, "bad_field", "id is required");
  team_created c{team_id{*id}, b.text("name").value_or(*id), b.text("timezone").value_or("UTC")};
  const auto eid = request_event_id(ctx, "team-" + *id);
  run_command(
      deps, c.team, std::move(respond),
      [&](live_view& live) {
        return decide_create_team(live, {deps.policy, deps.clock(), deps.source, eid}, c);
      },
      [&](live_view& live, const command_decision& d) {
        json_writer w;
        write_team(w, c.team, *live.team(c.team));
        return json_ok(d.events.empty() ? http::status::ok : http::status::created, w);
      });
}

void list_teams(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  json_writer w;
  w.begin_object().key("teams").begin_array();
  deps.ledger->with_state([&](live_view& live) {
    for (auto& [id, t] : live.teams()) {
      if (ctx.caller.org_wide() || ctx.caller.team == id.str()) write_team(w, id, t);
    }
  });
  w.end_array().end_object();
  respond(json_ok(http::status::ok, w));
}

void get_team(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  team_id team{path_id(ctx, "team_id")};
  require(ctx, team, need::read);
  run_read(deps, team, std::move(respond), [&](live_view& live) {
    auto t = live.team(team);
    if (!t) return problem(http::status::not_found, "team_not_found", "Not found", "no team");
    json_writer w;
    w.begin_object().field("id", team.str()).field("name", t->name);
    w.field("timezone", t->timezone).key("limits").begin_object();
    write_limits(w, effective_team_limits(live, *deps.policy, team));
    w.end_object().end_object();
    return json_ok(http::status::ok, w);
  });
}

void register_agent(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  team_id team{path_id(ctx, "team_id")};
  require(ctx, team, need::admin);
  auto b = body_of(ctx);
  b.allow_only({"id", "agent_id", "name", "type"});
  auto id = b.id("id");
  if (!id) id = b.id("agent_id");
  if (!id) throw api_error(http::status::unprocessable_entity, "bad_field", "id is required");
  agent_registered c{team, agent_id{*id}, b.text("name").value_or(*id),
                     b.text("type").value_or("")};
  const auto eid = request_event_id(ctx, "agent-" + *id);
  run_command(
      deps, team, std::move(respond),
      [&](live_view& live) {
        return decide_register_agent(live, {deps.policy, deps.clock(), deps.source, eid}, c);
      },
      [&](live_view& live, const command_decision& d) {
        json_writer w;
        write_agent(w, c.agent, *live.agent(c.agent));
        return json_ok(d.events.empty() ? http::status::ok : http::status::created, w);
      });
}

void list_agents(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  team_id team{path_id(ctx, "team_id")};
  require(ctx, team, need::read);
  run_read(deps, team, std::move(respond), [&](live_view& live) {
    if (!live.team(team)) {
      return problem(http::status::not_found, "team_not_found", "Not found", "no team");
    }
    json_writer w;
    w.begin_object().key("agents").begin_array();
    for (auto& [id, a] : live.agents(team)) write_agent(w, id, a);
    w.end_array().end_object();
    return json_ok(http::status::ok, w);
  });
}

void patch_agent(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  agent_id agent{path_id(ctx, "agent_id")};
  team_id team = team_of_agent(deps, agent);
  require(ctx, team, need::admin);
  auto b = body_of(ctx);
  check_only_limits(b);
  const auto eid = request_event_id(ctx);
  run_command(
      deps, team, std::move(respond),
      [&](live_view& live) {
        limits_set c{team, limit_scope::agent, agent.str(),
                     patch_limits(effective_agent_limits(live, *deps.policy, agent), b)};
        return decide_set_limits(live, {deps.policy, deps.clock(), deps.source, eid}, c);
      },
      [&](live_view& live, const command_decision&) {
        json_writer w;
        w.begin_object().field("id", agent.str()).field("team_id", team.str());
        w.key("limits").begin_object();
        write_limits(w, effective_agent_limits(live, *deps.policy, agent));
        w.end_object().end_object();
        return json_ok(http::status::ok, w);
      });
}

void create_task(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  team_id team{path_id(ctx, "team_id")};
  require(ctx, team, need::write);
  auto b = body_of(ctx);
  b.allow_only({"id", "title", "priority", "task_type", "tags", "budget_usd"});
  task_created c{team,
                 task_id{b.id("id").value_or("")},
                 b.text("title").value_or(""),
                 b.text("priority").value_or(""),
                 b.text("task_type").value_or(""),
                 b.strings("tags").value_or(std::vector<std::string>{}),
                 b.usd("budget_usd")};
  if (c.title.empty()) {
    throw api_error(http::status::unprocessable_entity, "bad_field", "title is required");
  }
  const auto eid = request_event_id(ctx);
  run_command(
      deps, team, std::move(respond),
      [&](live_view& live) {
        auto d = decide_create_task(live, {deps.policy, deps.clock(), deps.source, eid}, c);
        if (!d.events.empty()) c = std::get<task_created>(d.events[0].payload);
        return d;
      },
      [&](live_view& live, const command_decision&) {
        json_writer w;
        write_task(w, team, c.task, *live.task(team, c.task), live);
        return json_ok(http::status::created, w);
      });
}

void list_tasks(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  team_id team{path_id(ctx, "team_id")};
  require(ctx, team, need::read);
  run_read(deps, team, std::move(respond), [&](live_view& live) {
    json_writer w;
    w.begin_object().key("tasks").begin_array();
    for (auto& [id, t] : live.tasks(team)) write_task(w, team, id, t, live);
    w.end_array().end_object();
    return json_ok(http::status::ok, w);
  });
}

void patch_team_settings(api_deps& deps, request_ctx& ctx, respond_fn respond) {
  team_id team{path_id(ctx, "team_id")};
  require(ctx, team, need::admin);
  auto b = body_of(ctx);
  check_only_limits(b);
  const auto eid = request_event_id(ctx);
  run_command(
      deps, team, std::move(respond),
      [&](live_view& live) {
        limits_set c{team, limit_scope::team, team.str(),
                     patch_limits(effective_team_limits(live, *deps.policy, team), b)};
        return decide_set_limits(live, {deps.policy, deps.clock(), deps.source, eid}, c);
      },
      [&](live_view& live, const command_decision&) {
        json_writer w;
        w.begin_object().field("team_id", team.str());
        write_limits(w, effective_team_limits(live, *deps.policy, team));
        w.end_object();
        return json_ok(http::status::ok, w);
      });
}

}  // namespace tally::api
