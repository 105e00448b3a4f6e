// The API's routes and their handlers: plain functions of (deps, request, respond), tested
// without sockets. The server registers api_routes() in its router; auth and rate limits run
// before a handler, as the route's class says.
#pragma once

#include <string>
#include <vector>

#include "api/handler_support.h"

namespace tally::api {

enum class route_class { open, general, ingest, auth };

struct route_def {
  http::verb method;
  std::string pattern;  // "/api/v1/agents/{agent_id}/budget"
  route_class cls;
  void (*handle)(api_deps&, request_ctx&, respond_fn);
};

const std::vector<route_def>& api_routes();

// Teams, agents, tasks, limits (handlers_teams.cc).
void create_team(api_deps&, request_ctx&, respond_fn);
void list_teams(api_deps&, request_ctx&, respond_fn);
void get_team(api_deps&, request_ctx&, respond_fn);
void register_agent(api_deps&, request_ctx&, respond_fn);
void list_agents(api_deps&, request_ctx&, respond_fn);
void patch_agent(api_deps&, request_ctx&, respond_fn);
void create_task(api_deps&, request_ctx&, respond_fn);
void list_tasks(api_deps&, request_ctx&, respond_fn);
void patch_team_settings(api_deps&, request_ctx&, respond_fn);

// Sessions and usage (handlers_sessions.cc).
void open_agent_session(api_deps&, request_ctx&, respond_fn);
void start_session(api_deps&, request_ctx&, respond_fn);
void report_usage(api_deps&, request_ctx&, respond_fn);
// POST /api/v1/usage:batch {"reports": [{session_id, event_id, tokens..., cost_usd}, ...]}: each
// report accepted or refused on its own; one answer lists every outcome.
inline constexpr std::size_t max_batch_reports = 1000;
void report_usage_batch(api_deps&, request_ctx&, respond_fn);
void end_session(api_deps&, request_ctx&, respond_fn);
void get_session(api_deps&, request_ctx&, respond_fn);
void list_agent_sessions(api_deps&, request_ctx&, respond_fn);

// API keys and tokens (handlers_auth.cc).
void create_key(api_deps&, request_ctx&, respond_fn);
void list_keys(api_deps&, request_ctx&, respond_fn);
void revoke_key(api_deps&, request_ctx&, respond_fn);
void issue_access_token(api_deps&, request_ctx&, respond_fn);

// Budget and cost reads (handlers_reads.cc).
void agent_budget(api_deps&, request_ctx&, respond_fn);
void team_costs(api_deps&, request_ctx&, respond_fn);

}  // namespace tally::api
