// The HTTP side of batched ingest without sockets and without Kafka (Google Benchmark): the JSON
// guard and `report_usage_batch` over a write-through ledger, as the partition owner runs it
// (each decision folded into the state as it is made), every append acknowledged at once, the
// state drained every 8,000 events as the owner's flushes do. What is left out is the Kafka
// record (encode, produce), which the owner adds per append.
//   tally_bench_batch [--benchmark_filter=REGEX] [--benchmark_repetitions=N]
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "api/handlers.h"
#include "api/json_guard.h"
#include "consumers/ledger_gateway.h"

namespace {

using namespace tally;
using namespace tally::api;

constexpr time_ms now_ms = 1'795'428'000'000;  // 2026-11-23T10:00:00Z

// A store that has nothing: what was drained is gone, as if written elsewhere.
struct empty_source final : state_source {
  std::optional<std::string> get(column, std::string_view) override { return std::nullopt; }
};

class write_through_ledger final : public ledger_gateway {
 public:
  write_through_ledger() {
    state_.remember_absent_markers();
    live_.write_through([this](const event&, fold_outcome) { ++since_drain_; });
  }
  team_access with_team(const team_id&, const std::function<void(live_view&)>& f) override {
    f(live_);
    return team_access::ok;
  }
  void with_state(const std::function<void(live_view&)>& f) override { f(live_); }
  void append(const team_id&, std::vector<event> events, std::function<void(bool)> done,
              bool already_pending) override {
    // A batch's events are one record, which the owner knows without the live view.
    if (!already_pending) {
      for (auto& e : events) live_.add_pending(e);
    }
    if (since_drain_ >= 8'000) {
      rows_ += state_.drain().size();
      state_.evict_clean_over(200'000);
      since_drain_ = 0;
    }
    if (done) done(true);
  }
  bool ready() const override { return true; }
  std::size_t rows() const { return rows_; }

 private:
  empty_source nothing_;
  ledger_state state_{&nothing_};
  live_view live_{state_};
  int since_drain_ = 0;
  std::size_t rows_ = 0;
};

using handler = void (*)(api_deps&, request_ctx&, respond_fn);

http_response call(api_deps& deps, handler h, std::string body,
                   std::vector<std::pair<std::string, std::string>> path = {}) {
  request_ctx ctx;
  ctx.req.method(http::verb::post);
  ctx.req.set(http::field::content_type, "application/json");
  ctx.req.body() = std::move(body);
  ctx.path.items = std::move(path);
  ctx.caller = principal{role::admin, "", "k-admin"};
  if (auto bad = check_json_body(ctx.req)) return *bad;
  http_response out;
  h(deps, ctx, [&out](http_response res) { out = std::move(res); });
  return out;
}

// Batches of state.range(0) reports over 4 teams, 64 agents and one session each, the reports
// shaped as tally-loadgen's (event id, tokens, cost), every event id new.
void BM_usage_batch(benchmark::State& state) {
  const auto batch = static_cast<int>(state.range(0));
  write_through_ledger ledger;
  limit_policy policy;
  pricing_table pricing;
  api_deps deps;
  deps.ledger = &ledger;
  deps.policy = &policy;
  deps.pricing = &pricing;
  deps.clock = [] { return now_ms; };
  for (int t = 0; t < 4; ++t) {
    const auto id = "team-" + std::to_string(t);
    call(deps, create_team, R"({"id": ")" + id + R"(", "name": "t", "timezone": "Europe/Paris"})");
  }
  std::vector<std::string> sessions;
  for (int a = 0; a < 64; ++a) {
    const auto agent = "agent-" + std::to_string(a);
    call(deps, register_agent, R"({"id": ")" + agent + R"(", "name": "a"})",
         {{"team_id", "team-" + std::to_string(a % 4)}});
    const auto sid = "session-" + std::to_string(a);
    auto res = call(deps, open_agent_session,
                    R"({"session_id": ")" + sid + R"(", "model": "claude-sonnet-4-5"})",
                    {{"agent_id", agent}});
    if (res.result() != http::status::created) state.SkipWithError("session not opened");
    sessions.push_back(sid);
  }
  std::uint64_t next_id = 0;
  std::size_t accepted = 0;
  std::string body;
  for (auto _ : state) {
    state.PauseTiming();
    body = R"({"reports":[)";
    for (int j = 0; j < batch; ++j) {
      if (j) body += ',';
      const auto n = next_id++;
      body += R"({"session_id":")" + sessions[n % sessions.size()] + R"(","event_id":"ev-)" +
              std::to_string(n) + R"(","input_tokens":)" + std::to_string(100 + n % 5000) +
              R"(,"output_tokens":)" + std::to_string(20 + n % 1000) + R"(,"cost_usd":0.0)" +
              std::to_string(1000 + n % 9000) + "}";
    }
    body += "]}";
    state.ResumeTiming();
    auto res = call(deps, report_usage_batch, body);
    benchmark::DoNotOptimize(res);
    state.PauseTiming();
    if (res.result() != http::status::ok) state.SkipWithError("batch refused");
    accepted += static_cast<std::size_t>(batch);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["rows_per_event"] =
      static_cast<double>(ledger.rows()) / static_cast<double>(std::max<std::size_t>(1, accepted));
}
BENCHMARK(BM_usage_batch)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
