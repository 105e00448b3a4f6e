#include "schemas/usage_event_text.h"

#include "schemas/json_text.h"

namespace tally {

void append_usage_data(std::string& out, const usage_decided& e) {
  // Each key is written with its quotes, colon and leading comma as one literal.
  auto str = [&](std::string_view key, std::string_view v) {
    out.append(key);
    append_json_string(out, v);
  };
  auto num = [&](std::string_view key, std::int64_t v) {
    out.append(key);
    append_json_int(out, v);
  };
  str(R"({"team_id":)", e.team.str());
  if (!e.agent.empty()) str(R"(,"agent_id":)", e.agent.str());
  if (!e.session.empty()) str(R"(,"session_id":)", e.session.str());
  if (!e.task.empty()) str(R"(,"task_id":)", e.task.str());
  str(R"(,"model":)", e.model);
  if (!e.effort.empty()) str(R"(,"effort":)", e.effort);
  num(R"(,"input_tokens":)", e.tokens.input);
  num(R"(,"output_tokens":)", e.tokens.output);
  if (e.tokens.cache_creation != 0) {
    num(R"(,"cache_creation_input_tokens":)", e.tokens.cache_creation);
  }
  if (e.tokens.cache_read != 0) num(R"(,"cache_read_input_tokens":)", e.tokens.cache_read);
  num(R"(,"cost_nanos":)", e.cost.count);
  str(R"(,"cost_source":)", to_string(e.source));
  if (!e.price_version.empty()) str(R"(,"price_version":)", e.price_version);
  out.append(R"(,"occurred_at":")");
  append_rfc3339(out, e.occurred_at);  // digits, '-', ':', '.', 'T', 'Z': nothing to escape
  out.push_back('"');
  str(R"(,"day":)", e.day);
  str(R"(,"month":)", e.month);
  out.append(e.over_budget ? R"(,"over_budget":true)" : R"(,"over_budget":false)");
  out.append(e.stop ? R"(,"action":"stop")" : R"(,"action":"continue")");
  if (!e.reason.empty()) str(R"(,"reason":)", e.reason);
  if (e.epoch != 0) num(R"(,"epoch":)", e.epoch);
  if (e.report) {
    num(R"(,"report_partition":)", e.report->partition);
    num(R"(,"report_offset":)", e.report->offset);
  }
  if (!e.request_hash.empty()) str(R"(,"request_hash":)", e.request_hash);
  out.push_back('}');
}

}  // namespace tally
