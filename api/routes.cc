// The route table of the API: method, path pattern (its metric label), class, handler.
#include "api/handlers.h"

namespace tally::api {

const std::vector<route_def>& api_routes() {
  using v = http::verb;
  using c = route_class;
  static const std::vector<route_def> routes = {
      {v::post, "/api/v1/teams", c::general, create_team},
      {v::get, "/api/v1/teams", c::general, list_teams},
      {v::get, "/api/v1/teams/{team_id}", c::general, get_team},
      {v::post, "/api/v1/teams/{team_id}/agents", c::general, register_agent},
      {v::get, "/api/v1/teams/{team_id}/agents", c::general, list_agents},
      {v::post, "/api/v1/teams/{team_id}/tasks", c::general, create_task},
      {v::get, "/api/v1/teams/{team_id}/tasks", c::general, list_tasks},
      {v::get, "/api/v1/teams/{team_id}/costs", c::general, team_costs},
      {v::patch, "/api/v1/settings/teams/{team_id}", c::general, patch_team_settings},
      {v::patch, "/api/v1/agents/{agent_id}", c::general, patch_agent},
      {v::post, "/api/v1/agents/{agent_id}/sessions", c::ingest, open_agent_session},
      {v::get, "/api/v1/agents/{agent_id}/sessions", c::general, list_agent_sessions},
      {v::get, "/api/v1/agents/{agent_id}/budget", c::ingest, agent_budget},
      {v::post, "/api/v1/sessions/start", c::ingest, start_session},
      {v::get, "/api/v1/sessions", c::general, list_sessions},
      {v::get, "/api/v1/sessions/{session_id}", c::general, get_session},
      {v::post, "/api/v1/sessions/{session_id}/usage", c::ingest, report_usage},
      {v::post, "/api/v1/sessions/{session_id}/end", c::ingest, end_session},
      {v::post, "/api/v1/sessions/{session_id}/reservations", c::ingest, create_reservation},
      {v::get, "/api/v1/sessions/{session_id}/reservations/{reservation_id}", c::general,
       get_reservation},
      {v::delete_, "/api/v1/sessions/{session_id}/reservations/{reservation_id}", c::ingest,
       release_reservation},
      {v::post, "/api/v1/usage:batch", c::ingest, report_usage_batch},
      {v::get, "/api/v1/usage", c::general, usage_log},
      {v::get, "/api/v1/usage/summary", c::general, usage_summary},
      {v::get, "/api/v1/usage/by-agent", c::general, usage_by_agent},
      {v::get, "/api/v1/usage/by-project", c::general, usage_by_project},
      {v::get, "/api/v1/usage/by-model", c::general, usage_by_model},
      {v::get, "/api/v1/usage/daily", c::general, usage_daily},
      {v::get, "/api/v1/limits", c::general, get_limits},
      {v::put, "/api/v1/limits", c::general, put_limits},
      {v::get, "/api/v1/limits/status", c::general, limits_status},
      {v::get, "/api/v1/alerts", c::general, list_alerts},
      {v::post, "/api/v1/alerts/{alert_id}/ack", c::general, acknowledge_alert},
      {v::get, "/api/v1/alerts/config", c::general, get_alerts_config},
      {v::put, "/api/v1/alerts/config", c::general, put_alerts_config},
      {v::post, "/api/v1/webhooks", c::general, create_webhook},
      {v::get, "/api/v1/webhooks", c::general, list_webhooks},
      {v::get, "/api/v1/webhooks/{webhook_id}", c::general, get_webhook},
      {v::patch, "/api/v1/webhooks/{webhook_id}", c::general, patch_webhook},
      {v::delete_, "/api/v1/webhooks/{webhook_id}", c::general, delete_webhook},
      {v::get, "/api/v1/webhooks/{webhook_id}/deliveries", c::general, list_webhook_deliveries},
      {v::post, "/api/v1/webhooks/{webhook_id}/deliveries/{event_id}/redeliver", c::general,
       redeliver_webhook},
      {v::get, "/api/v1/insights", c::general, list_insights},
      {v::post, "/api/v1/insights/{insight_id}/dismiss", c::general, dismiss_insight},
      {v::get, "/api/v1/stream", c::general, live_stream},
      {v::post, "/api/v1/auth/keys", c::auth, create_key},
      {v::get, "/api/v1/auth/keys", c::auth, list_keys},
      {v::delete_, "/api/v1/auth/keys/{key_id}", c::auth, revoke_key},
      {v::post, "/api/v1/auth/token", c::auth, issue_access_token},
  };
  return routes;
}

}  // namespace tally::api
