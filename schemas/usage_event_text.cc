#include "schemas/usage_event_text.h"

#include "schemas/json_text.h"

namespace tally {

void append_usage_data(std::string& out, const usage_decided& e) {
  bool first = true;
  auto key = [&](std::string_view k) {  // keys are literals: nothing to escape
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    out.append(k).append("\":");
  };
  auto str = [&](std::string_view k, std::string_view v) {
    key(k);
    append_json_string(out, v);
  };
  auto num = [&](std::string_view k, std::int64_t v) {
    key(k);
    append_json_int(out, v);
  };
  out.push_back('{');
  str("team_id", e.team.str());
  str("agent_id", e.agent.str());
  str("session_id", e.session.str());
  str("task_id", e.task.str());
  str("model", e.model);
  str("effort", e.effort);
  num("input_tokens", e.tokens.input);
  num("output_tokens", e.tokens.output);
  num("cache_creation_input_tokens", e.tokens.cache_creation);
  num("cache_read_input_tokens", e.tokens.cache_read);
  num("cost_nanos", e.cost.count);
  str("cost_source", to_string(e.source));
  str("price_version", e.price_version);
  str("occurred_at", format_rfc3339(e.occurred_at));
  str("day", e.day);
  str("month", e.month);
  key("over_budget");
  out.append(e.over_budget ? "true" : "false");
  str("action", e.stop ? "stop" : "continue");
  str("reason", e.reason);
  num("epoch", e.epoch);
  if (e.report) {
    num("report_partition", e.report->partition);
    num("report_offset", e.report->offset);
  }
  if (!e.request_hash.empty()) str("request_hash", e.request_hash);
  out.push_back('}');
}

}  // namespace tally
