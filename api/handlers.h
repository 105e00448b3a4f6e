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

// Reservations (handlers_reservations.cc): POST holds budget for a session, DELETE releases it,
// GET shows it; a usage report with reservation_id settles it.
void create_reservation(api_deps&, request_ctx&, respond_fn);
void release_reservation(api_deps&, request_ctx&, respond_fn);
void get_reservation(api_deps&, request_ctx&, respond_fn);

// API keys and tokens (handlers_auth.cc).
void create_key(api_deps&, request_ctx&, respond_fn);
void list_keys(api_deps&, request_ctx&, respond_fn);
void revoke_key(api_deps&, request_ctx&, respond_fn);
void issue_access_token(api_deps&, request_ctx&, respond_fn);

// Budget and cost reads (handlers_reads.cc).
void agent_budget(api_deps&, request_ctx&, respond_fn);
void team_costs(api_deps&, request_ctx&, respond_fn);

// The cost-management spec's usage reads (handlers_usage.cc): ?period=day|week|month, or
// ?start=&end= (at most max_daily_days), and ?team_id=; org-wide for an org-wide admin without
// team_id (UTC periods), else one team in its time zone.
inline constexpr std::int64_t max_daily_days = 366;
void usage_summary(api_deps&, request_ctx&, respond_fn);
void usage_by_agent(api_deps&, request_ctx&, respond_fn);
void usage_by_project(api_deps&, request_ctx&, respond_fn);
void usage_by_model(api_deps&, request_ctx&, respond_fn);
void usage_daily(api_deps&, request_ctx&, respond_fn);

// GET /api/v1/usage: the usage log, newest first, paged by next_cursor; filters team_id (else
// the caller's team; required for org-wide keys), agent_id, session_id, task_id, model,
// status=recorded|rejected, start/end (date: whole days in the team's zone; RFC 3339: [start,
// end)), limit (default 100, at most 1000) (handlers_usage_log.cc).
void usage_log(api_deps&, request_ctx&, respond_fn);

// Limits in the spec's config.yaml shape, and usage against each of them (handlers_limits.cc).
void get_limits(api_deps&, request_ctx&, respond_fn);
void put_limits(api_deps&, request_ctx&, respond_fn);
void limits_status(api_deps&, request_ctx&, respond_fn);

// The alert feed, acknowledgements and thresholds (handlers_alerts.cc). GET /alerts filters by
// ?team_id= level= scope=<kind>[:<id>] acknowledged= resolved= since= until=, pages by limit=
// and cursor= (next_cursor of the previous page).
void list_alerts(api_deps&, request_ctx&, respond_fn);
void acknowledge_alert(api_deps&, request_ctx&, respond_fn);
void get_alerts_config(api_deps&, request_ctx&, respond_fn);
void put_alerts_config(api_deps&, request_ctx&, respond_fn);

// Webhook subscriptions and their delivery log (handlers_webhooks.cc): POST/GET /webhooks,
// GET/PATCH/DELETE /webhooks/{id}, GET /webhooks/{id}/deliveries, POST
// /webhooks/{id}/deliveries/{event_id}/redeliver.
void create_webhook(api_deps&, request_ctx&, respond_fn);
void list_webhooks(api_deps&, request_ctx&, respond_fn);
void get_webhook(api_deps&, request_ctx&, respond_fn);
void patch_webhook(api_deps&, request_ctx&, respond_fn);
void delete_webhook(api_deps&, request_ctx&, respond_fn);
void list_webhook_deliveries(api_deps&, request_ctx&, respond_fn);
void redeliver_webhook(api_deps&, request_ctx&, respond_fn);
// GET /api/v1/stream: Server-Sent Events of usage, session, alert and limits changes as they
// are folded (handlers_stream.cc). ?team_id= (org-wide admins may leave it out: every team),
// ?types=usage,session,alert,limits, resume with Last-Event-ID (or ?last_event_id=).
void live_stream(api_deps&, request_ctx&, respond_fn);

// The run log (handlers_session_log.cc): GET /api/v1/sessions, every session of a team, newest
// first, filtered by ?agent_id= model= status= (active|queued|ended|completed|failed|terminated,
// comma-separated; ended is completed or failed) since= (date or RFC 3339: opened at or after),
// paged by limit= (default 100, at most 1000) and cursor=; ?team_id= else the credential's team
// (required for org-wide keys). Each run says high_tokens (projections/run_log.h).
void list_sessions(api_deps&, request_ctx&, respond_fn);

// Optimisation insights (handlers_insights.cc, rules in projections/insights.h): GET
// /api/v1/insights?team_id=&include_dismissed=, and POST /api/v1/insights/{insight_id}/dismiss
// ?team_id= (an InsightDismissed event).
void list_insights(api_deps&, request_ctx&, respond_fn);
void dismiss_insight(api_deps&, request_ctx&, respond_fn);

// The built web dashboard (handlers_dashboard.cc), served on open routes (the page asks for a
// key): `file` is "index.html", a top-level file or "assets/<name>", read from `dir` at request
// time; 404 for anything else (a problem body saying how to build it when index.html is
// missing).
http_response dashboard_file(const std::string& dir, std::string_view file);
// <directory of the running executable>/dashboard: build/tally serves build/dashboard.
std::string default_dashboard_dir();

// What the usage and limits reads share (handlers_usage.cc).
// The scope of a read: the org (an org-wide admin without ?team_id=) or one team the caller may
// read (?team_id=, else the credential's team); 400 for a malformed team_id, 403 otherwise.
struct usage_scope {
  bool org = false;
  team_id team;
};
usage_scope read_usage_scope(const request_ctx& ctx);
// Runs read under the team's lock (404 when the team does not exist), or over the node's whole
// state for the org.
void read_in_scope(api_deps& deps, const usage_scope& s, respond_fn respond,
                   const std::function<http_response(live_view&)>& read);
// The teams of the scope, in id order.
std::vector<team_id> teams_in(live_view& live, const usage_scope& s);
// "<key>": part/whole in percent as an exact decimal (2 places) and "<key>_bp": the same in
// integer basis points, both rounded down; null when there is no whole (absent or zero).
void write_percent(json_writer& w, std::string_view key, std::int64_t part,
                   std::optional<std::int64_t> whole);

}  // namespace tally::api
