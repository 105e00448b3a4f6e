// The JSON Schemas in schemas/events/ describe what the code writes: one event of each type is
// encoded with encode_event() (reports with encode_usage_report(), pricing with
// encode_pricing_event()), written to a temporary directory and validated with Python's
// jsonschema (Debian package python3-jsonschema, installed by deploy/install-deps): the
// envelope against cloudevent.v1 and the data against the schema its type names. Deliberately
// bad records must be refused, so a schema that accepts anything fails too.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "consumers/control.h"
#include "schemas/events.h"
#include "schemas/pricing.h"

namespace tally {
namespace {

namespace fs = std::filesystem;

// Validates every <kind>--<label>.json in argv[1] against the schemas in argv[2]:
//   event--*  a CloudEvent: envelope + data by type
//   report--* a plain usage report (tally.reports.v1)
//   bad-event--*, bad-report--*: the same, expected to be invalid
// Prints one line per file: "ok <file>" or "invalid <file>: <first error>".
constexpr const char* validator = R"PY(
import json, os, sys
import jsonschema
d, s = sys.argv[1], sys.argv[2]
cache = {}
def validator(name):
    if name not in cache:
        with open(os.path.join(s, name + ".schema.json")) as f:
            schema = json.load(f)
        jsonschema.Draft202012Validator.check_schema(schema)
        cache[name] = jsonschema.Draft202012Validator(schema)
    return cache[name]
def errors(name, doc):
    return [e.message + " at " + "/".join(str(p) for p in e.absolute_path) for e in validator(name).iter_errors(doc)]
for f in sorted(os.listdir(d)):
    if not f.endswith(".json"):
        continue
    kind = f.split("--")[0].replace("bad-", "")
    with open(os.path.join(d, f)) as fh:
        doc = json.load(fh)
    errs = []
    if kind == "event":
        errs = errors("cloudevent.v1", doc)
        t = doc.get("type", "")
        if not errs:
            name = t[len("tally."):]
            if not os.path.exists(os.path.join(s, name + ".schema.json")):
                errs = ["no schema for type " + t]
            else:
                errs = errors(name, doc["data"])
    elif kind == "report":
        errs = errors("usage_report.v1", doc)
    else:
        errs = ["unknown kind"]
    print(("invalid " + f + ": " + errs[0]) if errs else ("ok " + f))
)PY";

std::string run(const std::string& command, int& status) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) {
    status = -1;
    return out;
  }
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  status = pclose(p);
  return out;
}

// The first Python interpreter that has the jsonschema module, or empty.
std::string python_with_jsonschema() {
  for (const char* py : {"python3", "/usr/bin/python3"}) {
    int status = 0;
    run(std::string(py) + " -c 'import jsonschema' >/dev/null 2>&1", status);
    if (status == 0) return py;
  }
  return {};
}

const time_ms t0 = 1'795'428'000'123;  // 2026-11-23T10:00:00.123Z

event ev(std::string id, event_payload p) {
  event e;
  e.id = event_id{std::move(id)};
  e.time = t0;
  e.payload = std::move(p);
  return e;
}

usage_decided sample_usage() {
  usage_decided u;
  u.team = team_id{"acme"};
  u.agent = agent_id{"eng-1"};
  u.session = session_id{"s-1"};
  u.task = task_id{"594"};
  u.model = "claude-sonnet-4-5";
  u.effort = "high";
  u.tokens = {.input = 2500, .output = 800, .cache_creation = 100, .cache_read = 300};
  u.cost = nanos{12'000'000};
  u.source = cost_source::computed;
  u.price_version = "p-0123456789ab";
  u.occurred_at = t0;
  u.day = "2026-11-23";
  u.month = "2026-11";
  u.over_budget = true;
  u.stop = true;
  u.reason = "crossed:team:acme:day:cost";
  u.epoch = 4;
  u.report = report_ref{1, 99};
  return u;
}

// label -> record value
std::map<std::string, std::string> samples() {
  std::map<std::string, std::string> out;
  auto add = [&](const event& e) {
    out["event--" + std::string(event_type_name(e.payload)) + "--" + e.id.str()] = encode_event(e);
  };
  add(ev("team", team_created{team_id{"acme"}, "Acme \"R&D\"", "Asia/Kolkata"}));
  add(ev("agent", agent_registered{team_id{"acme"}, agent_id{"eng-1"}, "Engineer", "coder"}));
  add(ev("task", task_created{team_id{"acme"},
                              task_id{"594"},
                              "Fix",
                              "high",
                              "bug",
                              {"budget:0.50", "backend"},
                              nanos{500'000'000}}));
  add(ev("task-nobudget", task_created{team_id{"acme"}, task_id{"595"}, "", "", "", {}, {}}));
  limit_set l;
  l.cost_per_day = nanos{10'000'000'000};
  l.cost_per_month = nanos{100'000'000'000};
  l.cost_per_run = nanos{1'000'000'000};
  l.tokens_per_day = 1'000'000;
  l.tokens_per_month = 20'000'000;
  l.tokens_per_run = 200'000;
  l.max_concurrent_sessions = 3;
  add(ev("limits-agent", limits_set{team_id{"acme"}, limit_scope::agent, "eng-1", l}));
  add(ev("limits-global", limits_set{team_id{}, limit_scope::global, "", limit_set{}}));
  add(ev("open", session_opened{team_id{"acme"}, agent_id{"eng-1"}, session_id{"s-1"},
                                task_id{"594"}, "claude-sonnet-4-5", "high"}));
  add(ev("open-notask", session_opened{team_id{"acme"}, agent_id{"eng-1"}, session_id{"s-2"},
                                       task_id{}, "gpt-4o", ""}));
  session_opened queued{team_id{"acme"}, agent_id{"eng-1"}, session_id{"s-3"}, task_id{}, "m", ""};
  queued.queued = true;
  add(ev("open-queued", queued));
  add(ev("activate", session_activated{team_id{"acme"}, session_id{"s-3"}}));
  add(ev("hold",
         reservation_held{team_id{"acme"}, "rsv-1", session_id{"s-1"}, agent_id{"eng-1"},
                          task_id{"594"}, nanos{500'000'000}, t0 + 300'000, "0123456789abcdef"}));
  add(ev("hold-notask", reservation_held{team_id{"acme"}, "rsv-2", session_id{"s-2"},
                                         agent_id{"eng-1"}, task_id{}, nanos{1}, t0 + 1'000, ""}));
  add(ev("settle", reservation_released{team_id{"acme"}, "rsv-1", session_id{"s-1"}, "settled",
                                        nanos{450'000'000}, event_id{"u-1"}}));
  add(ev("release", reservation_released{team_id{"acme"}, "rsv-2", session_id{"s-2"}, "released",
                                         std::nullopt, event_id{}}));
  add(ev("end", session_ended{team_id{"acme"}, session_id{"s-1"}, session_status::completed}));
  add(ev("term", session_terminated{team_id{"acme"}, session_id{"s-1"}, "crossed:x"}));
  add(ev("rec", usage_recorded{sample_usage()}));
  usage_rejected rej{sample_usage()};
  rej.report.reset();
  rej.agent = agent_id{};
  rej.session = session_id{};
  rej.task = task_id{};
  rej.source = cost_source::unpriced;
  rej.price_version = "";
  add(ev("rej", rej));

  // Pricing, as consumers/control.cc publishes it.
  price_version v;
  v.effective_from_ms = t0;
  v.models["sonnet"] = make_model_price(nanos{3'000'000'000}, nanos{15'000'000'000});
  v.models["haiku"] = make_model_price(nanos{800'000'000}, nanos{4'000'000'000});
  v.aliases.emplace_back("claude-sonnet-4*", "sonnet");
  v.id = derive_price_version_id(v);
  out["event--tally.pricing_published.v1--p"] = encode_pricing_event(v);

  // Alerts, as the decision writes them (the global one with the reporting team, the global
  // limit change's with none).
  budget_threshold_crossed x;
  x.team = team_id{"acme"};
  x.kind = alert_scope_kind::team;
  x.scope_id = "acme";
  x.window = "day";
  x.period = "2026-11-23";
  x.threshold_percent = 80;
  x.level = "warning";
  x.message = "80% of budget used";
  x.limit = nanos{10'000'000'000};
  x.spent = nanos{8'100'000'000};
  x.at = t0;
  x.crossing_event = event_id{"ev-1"};
  add(ev("thr:team:acme:day:2026-11-23:80", x));
  budget_threshold_crossed over = x;
  over.kind = alert_scope_kind::session;
  over.scope_id = "s-1";
  over.window = "run";
  over.period = "-";
  over.threshold_percent = 100;
  over.level = "exceeded";
  over.spent = nanos{10'500'000'000};  // remaining negative
  over.occurrence = 2;
  over.channels_off = {"email", "webhook"};
  add(ev("thr:session:acme:s-1:run:-:100:2", over));
  budget_threshold_resolved res;
  static_cast<alert_subject&>(res) = x;
  res.team = team_id{};
  res.kind = alert_scope_kind::global;
  res.scope_id = "global";
  res.alert = event_id{"thr:global:global:day:2026-11-23:80"};
  res.reason = "limit_raised";
  res.cause_event = event_id{"lim-1"};
  add(ev("res:global:global:day:2026-11-23:80", res));
  add(ev("ack:thr:team:acme:day:2026-11-23:80",
         alert_acknowledged{team_id{"acme"}, event_id{"thr:team:acme:day:2026-11-23:80"},
                            "key_0123"}));
  add(ev("cfg-1", alert_thresholds_set{team_id{"acme"},
                                       {{50, "info", "{percent}% of {window} budget used"}},
                                       {{"in_app", true}, {"email", false}}}));
  add(ev("cfg-2", alert_thresholds_set{team_id{}, default_threshold_specs(), {}}));
  add(ev("dismiss:model_downgrade:eng-1:opus",
         insight_dismissed{team_id{"acme"}, "model_downgrade:eng-1:opus", "key_0123"}));

  // Reports: what encode_usage_report writes, and the shapes fleets send.
  usage_report r;
  r.id = event_id{"ev-1"};
  r.team = team_id{"acme"};
  r.agent = agent_id{"eng-1"};
  r.session = session_id{"s-1"};
  r.task = task_id{"594"};
  r.model = "claude-sonnet-4-5";
  r.effort = "high";
  r.tokens = {.input = 1, .output = 2, .cache_creation = 3, .cache_read = 4};
  r.cost = nanos{12'000'000};
  r.occurred_at = t0;
  out["report--encoded"] = encode_usage_report(r);
  out["report--openai"] =
      R"({"project_id":"acme","agent_id":"eng-1","task_id":594,"model":"gpt-4o",)"
      R"("usage":{"prompt_tokens":1000,"completion_tokens":200,)"
      R"("prompt_tokens_details":{"cached_tokens":300}},"cost_usd":1.2e-2})";
  out["event--tally.usage_report.v1--wrapped"] =
      R"({"specversion":"1.0","id":"ce-1","source":"fleet/eng-1","type":"tally.usage_report.v1",)"
      R"("time":"2026-11-23T12:00:00+02:00","data":{"team_id":"acme","agent_id":"eng-1",)"
      R"("usage":{"input_tokens":10,"output_tokens":20}}})";

  // Must be refused.
  auto usage_json = encode_event(ev("x", usage_recorded{sample_usage()}));
  auto replace = [](std::string s, std::string_view from, std::string_view to) {
    auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) s.replace(at, from.size(), to);
    return s;
  };
  out["bad-event--cost-as-string"] =
      replace(usage_json, R"("cost_nanos":12000000)", R"("cost_nanos":"12000000")");
  out["bad-event--negative-tokens"] =
      replace(usage_json, R"("input_tokens":2500)", R"("input_tokens":-1)");
  out["bad-event--slash-in-team"] =
      replace(usage_json, R"("team_id":"acme")", R"("team_id":"a/b")");
  out["bad-event--no-day"] = replace(usage_json, R"("day":"2026-11-23",)", "");
  out["bad-event--unknown-field"] =
      replace(usage_json, R"("day":"2026-11-23",)", R"("day":"2026-11-23","dya":1,)");
  out["bad-event--specversion"] = replace(usage_json, R"("1.0")", R"("0.3")");
  out["bad-event--time"] =
      replace(usage_json, R"("time":"2026-11-23T10:00:00.123Z")", R"("time":"yesterday")");
  out["bad-event--status"] =
      replace(out["event--tally.session_ended.v1--end"], "completed", "paused");
  out["bad-report--cost-string"] = R"({"team_id":"acme","agent_id":"eng-1","cost_usd":"0.01"})";
  out["bad-report--cost-negative"] = R"({"team_id":"acme","agent_id":"eng-1","cost_usd":-1})";
  out["bad-report--no-team"] = R"({"agent_id":"eng-1","input_tokens":1})";
  out["bad-report--token-fraction"] = R"({"team_id":"acme","agent_id":"eng-1","input_tokens":1.5})";
  return out;
}

TEST(schema_conformance, encoded_events_match_their_json_schemas) {
  const std::string python = python_with_jsonschema();
  ASSERT_FALSE(python.empty())
      << "python3 with the jsonschema module is required (Debian package python3-jsonschema):"
         " run deploy/install-deps";

  const fs::path schemas = fs::path(TALLY_SOURCE_DIR) / "schemas" / "events";
  ASSERT_TRUE(fs::exists(schemas / "cloudevent.v1.schema.json")) << schemas;
  const fs::path dir =
      fs::temp_directory_path() / ("tally_schema_conformance_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);

  auto records = samples();
  for (auto& [label, json] : records) {
    std::ofstream(dir / (label + ".json")) << json;
  }

  int status = 0;
  const std::string output =
      run(python + " -c '" + validator + "' '" + dir.string() + "' '" + schemas.string() + "' 2>&1",
          status);
  ASSERT_EQ(status, 0) << output;

  std::map<std::string, std::string> results;  // label -> "ok" or the error
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    auto space = line.find(' ');
    auto file = line.substr(space + 1);
    auto colon = file.find(".json");
    auto label = file.substr(0, colon);
    results[label] = line.substr(0, 2) == "ok" ? "ok" : line;
  }
  ASSERT_EQ(results.size(), records.size()) << output;
  for (auto& [label, json] : records) {
    if (label.starts_with("bad-")) {
      EXPECT_NE(results[label], "ok") << label << " should be refused: " << json;
    } else {
      EXPECT_EQ(results[label], "ok") << json;
    }
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tally
