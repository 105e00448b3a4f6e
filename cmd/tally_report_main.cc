// tally-report: publish usage reports to tally.reports.v1, one from flags or many as JSON lines
// on standard input (each line a report object with team_id). Exits non-zero unless every
// report was acknowledged by the broker (acks=all).
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <string>

#include <simdjson.h>
#include <CLI/CLI.hpp>

#include "producers/report_client.h"

int main(int argc, char** argv) {
  CLI::App app{"Publish usage reports to Tally over Kafka"};
  std::string brokers, topic = "tally.reports.v1", team, agent, session, task, model, effort,
                       event_id, cost_usd, time;
  std::int64_t input = 0, output = 0, cache_creation = 0, cache_read = 0;
  bool lines = false;
  if (const char* b = std::getenv("TALLY_BROKERS")) brokers = b;
  app.add_option("--brokers", brokers, "Kafka bootstrap servers (or TALLY_BROKERS)");
  app.add_option("--topic", topic, "reports topic");
  app.add_flag("--stdin", lines, "read JSON lines from standard input");
  app.add_option("--team", team, "team id");
  app.add_option("--agent", agent, "agent id");
  app.add_option("--session", session, "session id");
  app.add_option("--task", task, "task id");
  app.add_option("--model", model, "model id");
  app.add_option("--effort", effort, "effort level");
  app.add_option("--event-id", event_id, "idempotency id of the report");
  app.add_option("--input-tokens", input);
  app.add_option("--output-tokens", output);
  app.add_option("--cache-creation-tokens", cache_creation);
  app.add_option("--cache-read-tokens", cache_read);
  app.add_option("--cost-usd", cost_usd, "reported cost, exact decimal");
  app.add_option("--time", time, "event time, RFC 3339 (default: now)");
  CLI11_PARSE(app, argc, argv);
  if (brokers.empty()) {
    std::cerr << "no brokers: pass --brokers or set TALLY_BROKERS\n";
    return 2;
  }

  tally::producer out({.brokers = brokers, .client_id = "tally-report"});
  tally::report_client client(out, topic);
  std::atomic<long> failed{0};
  auto done = [&](const tally::delivery& d) {
    if (d.err) ++failed;
  };
  long sent = 0;
  if (lines) {
    simdjson::dom::parser parser;
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line.empty()) continue;
      auto r = tally::decode_usage_report(line);
      if (!r) {
        std::cerr << "line " << sent + 1 << ": " << r.error().message() << '\n';
        return 2;
      }
      client.publish_json(r->team.str(), line, done);
      ++sent;
    }
  } else {
    tally::usage_report r;
    r.id = tally::event_id{event_id};
    r.team = tally::team_id{team};
    r.agent = tally::agent_id{agent};
    r.session = tally::session_id{session};
    r.task = tally::task_id{task};
    r.model = model;
    r.effort = effort;
    r.tokens = {input, output, cache_creation, cache_read};
    if (!cost_usd.empty()) {
      auto c = tally::parse_usd(cost_usd);
      if (!c) {
        std::cerr << "--cost-usd: " << c.error().message() << '\n';
        return 2;
      }
      r.cost = *c;
    }
    if (!time.empty()) {
      auto t = tally::parse_rfc3339(time);
      if (!t) {
        std::cerr << "--time: not RFC 3339\n";
        return 2;
      }
      r.occurred_at = *t;
    }
    if (r.team.empty() || r.agent.empty()) {
      std::cerr << "--team and --agent are required\n";
      return 2;
    }
    client.publish(r, done);
    ++sent;
  }
  if (!client.flush(60'000) || failed > 0) {
    std::cerr << failed << " of " << sent << " reports were not acknowledged\n";
    return 1;
  }
  std::cout << sent << " reports acknowledged\n";
  return 0;
}
