// Concurrency queueing and reservations over the in-memory ledger: 202 queued and FIFO
// activation decided with the event that frees the slot (end, per-run termination, a raised
// limit), usage on a queued session refused 409, a queued session over budget staying queued;
// reservations refused when they do not fit each kind of enclosing limit, held amounts counting
// for sessions and unreserved reports, settle / over-settle / release / expiry at exactly
// expires_at, the budget view's reserved figures, idempotent retries, and a replay of every
// appended event reaching the same rows byte for byte.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "api/handlers.h"
#include "projections/reservations.h"
#include "projections/slots.h"
#include "tests/support/memory_ledger.h"

namespace tally::api {
namespace {

const time_ms now_ms = 1'795'428'000'000;  // 2026-11-23T10:00:00Z

using handler = void (*)(api_deps&, request_ctx&, respond_fn);
using pairs = std::vector<std::pair<std::string, std::string>>;

class queue_reservations : public ::testing::Test {
 public:
  void SetUp() override {
    deps.ledger = &ledger;
    deps.policy = &policy;
    deps.pricing = &pricing;
    deps.clock = [this] { return now; };
    policy.thresholds.clear();  // the alerts a crossing adds: thresholds_test.cc
  }

  http_response call(handler h, http::verb verb, std::string body, pairs path = {},
                     std::string idempotency_key = {}) {
    request_ctx ctx;
    ctx.req.method(verb);
    ctx.req.body() = std::move(body);
    if (!idempotency_key.empty()) ctx.req.set("Idempotency-Key", idempotency_key);
    ctx.path.items = std::move(path);
    ctx.caller = principal{role::admin, "", "k-admin"};
    std::optional<http_response> out;
    try {
      h(deps, ctx, [&out](http_response res) { out = std::move(res); });
    } catch (const api_error& e) {
      out = problem(e.status, e.slug, "Refused", e.what());
    }
    ledger.deliver(true);
    EXPECT_TRUE(out) << "no answer";
    return std::move(*out);
  }

  static boost::json::object json(const http_response& res) {
    return boost::json::parse(res.body()).as_object();
  }

  void setup(const std::string& team_limits = "") {
    ASSERT_EQ(call(create_team, http::verb::post, R"({"id": "acme", "name": "Acme"})").result(),
              http::status::created);
    for (auto a : {"eng-1", "eng-2"}) {
      ASSERT_EQ(call(register_agent, http::verb::post, R"({"id": ")" + std::string(a) + R"("})",
                     {{"team_id", "acme"}})
                    .result(),
                http::status::created);
    }
    if (!team_limits.empty()) set_team_limits(team_limits);
  }
  void set_team_limits(const std::string& body) {
    auto res = call(patch_team_settings, http::verb::patch, body, {{"team_id", "acme"}});
    ASSERT_EQ(res.result(), http::status::ok) << res.body();
  }
  void set_agent_limits(const std::string& agent, const std::string& body) {
    auto res = call(patch_agent, http::verb::patch, body, {{"agent_id", agent}});
    ASSERT_EQ(res.result(), http::status::ok) << res.body();
  }
  http_response open(const std::string& agent, const std::string& sid,
                     const std::string& extra = "") {
    return call(open_agent_session, http::verb::post,
                R"({"session_id": ")" + sid + "\"" + extra + "}", {{"agent_id", agent}});
  }
  http_response end(const std::string& sid) {
    return call(end_session, http::verb::post, "{}", {{"session_id", sid}});
  }
  http_response report(const std::string& sid, const std::string& body,
                       const std::string& key = "") {
    return call(report_usage, http::verb::post, body, {{"session_id", sid}}, key);
  }
  http_response reserve(const std::string& sid, const std::string& body,
                        const std::string& key = "") {
    return call(create_reservation, http::verb::post, body, {{"session_id", sid}}, key);
  }
  http_response release(const std::string& sid, const std::string& rid) {
    return call(release_reservation, http::verb::delete_, "",
                {{"session_id", sid}, {"reservation_id", rid}});
  }
  boost::json::object reservation(const std::string& sid, const std::string& rid) {
    auto res =
        call(get_reservation, http::verb::get, "", {{"session_id", sid}, {"reservation_id", rid}});
    EXPECT_EQ(res.result(), http::status::ok) << res.body();
    return json(res);
  }
  boost::json::object session(const std::string& sid) {
    auto res = call(get_session, http::verb::get, "", {{"session_id", sid}});
    EXPECT_EQ(res.result(), http::status::ok) << res.body();
    return json(res);
  }
  std::string status(const std::string& sid) {
    return std::string(session(sid).at("status").as_string());
  }
  boost::json::object budget(const std::string& agent) {
    auto res = call(agent_budget, http::verb::get, "", {{"agent_id", agent}});
    EXPECT_EQ(res.result(), http::status::ok) << res.body();
    return json(res);
  }
  std::int64_t team_spent() {
    return ledger.state().get_totals(totals_key("t/acme", window_day, "2026-11-23")).cost_nanos;
  }
  // The payload types appended since `from`, in order.
  std::vector<std::string> appended_types(std::size_t from) {
    std::vector<std::string> out;
    for (std::size_t i = from; i < ledger.appended().size(); ++i) {
      out.emplace_back(event_type_name(ledger.appended()[i].payload));
    }
    return out;
  }

  testing::memory_ledger ledger;
  limit_policy policy;
  pricing_table pricing;
  api_deps deps;
  time_ms now = now_ms;
};

const std::string act = "tally.session_activated.v1";

TEST_F(queue_reservations, a_full_team_queues_fifo_and_ending_activates_in_the_same_decision) {
  setup(R"({"max_concurrent_agents": 1})");
  auto first = open("eng-1", "s1");
  ASSERT_EQ(first.result(), http::status::created) << first.body();
  EXPECT_EQ(json(first).at("status").as_string(), "active");
  auto second = open("eng-2", "s2");
  ASSERT_EQ(second.result(), http::status::accepted) << second.body();
  EXPECT_EQ(json(second).at("status").as_string(), "queued");
  EXPECT_EQ(json(second).at("queue_position").as_int64(), 1);
  auto third = open("eng-1", "s3");
  ASSERT_EQ(third.result(), http::status::accepted);
  EXPECT_EQ(json(third).at("queue_position").as_int64(), 2);

  // Usage on a queued session is refused 409 and counted nowhere.
  auto queued_usage = report("s2", R"({"input_tokens": 10, "cost_usd": 0.5})");
  EXPECT_EQ(queued_usage.result(), http::status::conflict) << queued_usage.body();
  EXPECT_NE(queued_usage.body().find("session_queued"), std::string::npos);
  EXPECT_EQ(team_spent(), 0);
  EXPECT_EQ(session("s2").at("reports").as_int64(), 0);

  const auto before = ledger.appended().size();
  ASSERT_EQ(end("s1").result(), http::status::ok);
  EXPECT_EQ(appended_types(before), (std::vector<std::string>{"tally.session_ended.v1", act}));
  EXPECT_EQ(std::get<session_activated>(ledger.appended().back().payload).session.str(), "s2");
  EXPECT_EQ(status("s2"), "active");
  EXPECT_EQ(status("s3"), "queued");
  EXPECT_EQ(session("s3").at("queue_position").as_int64(), 1);
  EXPECT_EQ(report("s2", R"({"input_tokens": 10, "cost_usd": 0.5})").result(), http::status::ok);

  // A queued session can be cancelled; it never takes a slot.
  ASSERT_EQ(end("s3").result(), http::status::ok);
  EXPECT_EQ(status("s3"), "completed");
  ASSERT_EQ(end("s2").result(), http::status::ok);
  auto fourth = open("eng-2", "s4");
  EXPECT_EQ(fourth.result(), http::status::created) << fourth.body();
}

TEST_F(queue_reservations, a_batch_refuses_queued_items_and_settles_reserved_ones) {
  setup(R"({"max_concurrent_agents": 1})");
  ASSERT_EQ(open("eng-1", "s1").result(), http::status::created);
  ASSERT_EQ(open("eng-2", "s2").result(), http::status::accepted);
  ASSERT_EQ(reserve("s1", R"({"amount_usd": 0.3, "reservation_id": "r1"})").result(),
            http::status::created);
  auto res = call(report_usage_batch, http::verb::post,
                  R"({"reports": [
                      {"session_id": "s1", "event_id": "b1", "cost_usd": 0.3,
                       "reservation_id": "r1"},
                      {"session_id": "s2", "event_id": "b2", "cost_usd": 0.3}]})");
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  auto results = json(res).at("results").as_array();
  EXPECT_EQ(results.at(0).at("http_status").as_int64(), 200);
  EXPECT_EQ(results.at(1).at("http_status").as_int64(), 409);
  EXPECT_EQ(results.at(1).at("reason").as_string(), "session_queued");
  EXPECT_EQ(reservation("s1", "r1").at("status").as_string(), "settled");
  EXPECT_EQ(team_spent(), 300'000'000);
}

TEST_F(queue_reservations, per_run_termination_activates_the_next_session) {
  setup(R"({"max_concurrent_agents": 1})");
  set_agent_limits("eng-1", R"({"max_cost_per_run_usd": 1})");
  ASSERT_EQ(open("eng-1", "s1").result(), http::status::created);
  ASSERT_EQ(open("eng-2", "s2").result(), http::status::accepted);
  const auto before = ledger.appended().size();
  auto crossing = report("s1", R"({"input_tokens": 10, "cost_usd": 1.5})");
  ASSERT_EQ(crossing.result(), http::status::ok) << crossing.body();
  EXPECT_EQ(appended_types(before), (std::vector<std::string>{"tally.usage_recorded.v1",
                                                              "tally.session_terminated.v1", act}));
  EXPECT_EQ(status("s1"), "terminated");
  EXPECT_EQ(status("s2"), "active");
}

TEST_F(queue_reservations, raising_a_limit_activates_the_oldest_that_fit) {
  setup(R"({"max_concurrent_agents": 1})");
  ASSERT_EQ(open("eng-1", "s1").result(), http::status::created);
  ASSERT_EQ(open("eng-2", "s2").result(), http::status::accepted);
  ASSERT_EQ(open("eng-2", "s3").result(), http::status::accepted);
  ASSERT_EQ(open("eng-1", "s4").result(), http::status::accepted);
  // The team may now run 3; eng-2 may run only 1: s2 (eng-2) and s4 (eng-1) fit, s3 does not
  // and stays queued without blocking s4.
  set_agent_limits("eng-2", R"({"max_concurrent_agents": 1})");
  const auto before = ledger.appended().size();
  set_team_limits(R"({"max_concurrent_agents": 3})");
  EXPECT_EQ(appended_types(before), (std::vector<std::string>{"tally.limits_set.v1", act, act}));
  EXPECT_EQ(status("s2"), "active");
  EXPECT_EQ(status("s3"), "queued");
  EXPECT_EQ(status("s4"), "active");
  EXPECT_EQ(session("s3").at("queue_position").as_int64(), 1);
  // A team slot more is not enough for s3 (its agent is full); the agent's raised limit is.
  set_team_limits(R"({"max_concurrent_agents": 4})");
  EXPECT_EQ(status("s3"), "queued");
  set_agent_limits("eng-2", R"({"max_concurrent_agents": 2})");
  EXPECT_EQ(status("s3"), "active");
}

TEST_F(queue_reservations, budget_refusal_comes_first_and_an_exhausted_session_stays_queued) {
  setup(R"({"max_concurrent_agents": 1})");
  ASSERT_EQ(call(create_task, http::verb::post, R"({"id": "t1", "title": "T", "budget_usd": 1})",
                 {{"team_id", "acme"}})
                .result(),
            http::status::created);
  ASSERT_EQ(open("eng-1", "s1", R"(, "task_id": "t1")").result(), http::status::created);
  ASSERT_EQ(open("eng-2", "s2", R"(, "task_id": "t1")").result(), http::status::accepted);
  ASSERT_EQ(open("eng-2", "s3").result(), http::status::accepted);
  ASSERT_EQ(report("s1", R"({"input_tokens": 1, "cost_usd": 1})").result(), http::status::ok);
  // The task budget is spent: s1 was terminated by it; s2 (same task) does not fit and stays
  // queued, s3 passes it.
  EXPECT_EQ(status("s1"), "terminated");
  EXPECT_EQ(status("s2"), "queued");
  EXPECT_EQ(status("s3"), "active");
  // A new session on the exhausted task is refused 402, not queued.
  auto refused = open("eng-1", "s4", R"(, "task_id": "t1")");
  EXPECT_EQ(refused.result(), http::status::payment_required) << refused.body();
}

TEST_F(queue_reservations, global_and_agent_concurrency_limits_queue_too) {
  policy.global.max_concurrent_sessions = 2;
  setup();
  set_agent_limits("eng-1", R"({"max_concurrent_agents": 1})");
  ASSERT_EQ(open("eng-1", "s1").result(), http::status::created);
  EXPECT_EQ(open("eng-1", "s2").result(), http::status::accepted);  // the agent's limit
  ASSERT_EQ(open("eng-2", "s3").result(), http::status::created);
  EXPECT_EQ(open("eng-2", "s4").result(), http::status::accepted);  // the global limit
  deps.ledger->with_state([](live_view& live) {
    EXPECT_EQ(active_sessions(live, "g"), 2);
    EXPECT_EQ(active_sessions(live, "a/eng-1"), 1);
    ASSERT_EQ(queue_of(live, team_id{"acme"}).size(), 2u);
  });
  // s1 ends: s2 (eng-1, oldest) fits again.
  ASSERT_EQ(end("s1").result(), http::status::ok);
  EXPECT_EQ(status("s2"), "active");
  EXPECT_EQ(status("s4"), "queued");
}

TEST_F(queue_reservations, a_reservation_must_fit_every_kind_of_enclosing_limit) {
  struct kind {
    std::string name;
    std::function<void(queue_reservations&)> limit;
    std::string scope;
  };
  const std::vector<kind> kinds = {
      {"global day",
       [](queue_reservations& t) { t.policy.global.cost_per_day = nanos{1'000'000'000}; },
       "global"},
      {"team day",
       [](queue_reservations& t) { t.set_team_limits(R"({"daily_cost_limit_usd": 1})"); },
       "team:acme"},
      {"agent month",
       [](queue_reservations& t) { t.set_agent_limits("eng-1", R"({"monthly_budget_usd": 1})"); },
       "agent:eng-1"},
      {"task",
       [](queue_reservations& t) {
         ASSERT_EQ(t.call(create_task, http::verb::post,
                          R"({"id": "t1", "title": "T", "budget_usd": 1})", {{"team_id", "acme"}})
                       .result(),
                   http::status::created);
       },
       "task:t1"},
      {"per run",
       [](queue_reservations& t) { t.set_agent_limits("eng-1", R"({"max_cost_per_run_usd": 1})"); },
       "session:s1"},
  };
  struct world : queue_reservations {
    void TestBody() override {}
  };
  for (auto& k : kinds) {
    SCOPED_TRACE(k.name);
    world t;
    t.SetUp();
    t.setup();
    k.limit(t);
    ASSERT_EQ(t.open("eng-1", "s1", R"(, "task_id": "t1")").result(), http::status::created);
    ASSERT_EQ(t.report("s1", R"({"input_tokens": 1, "cost_usd": 0.25})").result(),
              http::status::ok);
    // 0.25 spent + 0.5 held + 0.25 = 1: fits exactly; one nano-dollar more does not.
    ASSERT_EQ(t.reserve("s1", R"({"amount_usd": 0.5, "reservation_id": "r1"})").result(),
              http::status::created);
    const auto n = t.ledger.appended().size();
    auto over = t.reserve("s1", R"({"amount_usd": 0.250000001, "reservation_id": "r2"})");
    ASSERT_EQ(over.result(), http::status::payment_required) << over.body();
    auto body = json(over);
    EXPECT_EQ(body.at("scope").as_string(), k.scope) << over.body();
    EXPECT_EQ(body.at("limit").as_int64(), 1'000'000'000);
    EXPECT_EQ(body.at("spent").as_int64(), 250'000'000);
    EXPECT_EQ(body.at("reserved").as_int64(), 500'000'000);
    EXPECT_EQ(t.ledger.appended().size(), n);  // nothing appended
    EXPECT_EQ(t.reserve("s1", R"({"amount_usd": 0.25, "reservation_id": "r3"})").result(),
              http::status::created);
  }
}

TEST_F(queue_reservations, held_amounts_count_for_sessions_and_unreserved_reports) {
  setup(R"({"daily_cost_limit_usd": 1})");
  ASSERT_EQ(open("eng-1", "a").result(), http::status::created);
  ASSERT_EQ(open("eng-2", "b").result(), http::status::created);
  ASSERT_EQ(reserve("a", R"({"amount_usd": 0.6, "reservation_id": "ra"})").result(),
            http::status::created);
  // b's report does not reach the limit before it (0 + 0.6 held < 1): recorded, told to stop
  // as it crosses with the held amount.
  auto crossing = report("b", R"({"input_tokens": 1, "cost_usd": 0.5})");
  ASSERT_EQ(crossing.result(), http::status::ok) << crossing.body();
  EXPECT_TRUE(json(crossing).at("over_budget").as_bool());
  // Now 0.5 spent + 0.6 held >= 1: b's next report and a new session are refused.
  EXPECT_EQ(report("b", R"({"input_tokens": 1, "cost_usd": 0.01})").result(),
            http::status::payment_required);
  EXPECT_EQ(open("eng-2", "c").result(), http::status::payment_required);
  // a's reserved report is recorded: its room was held.
  auto settled = report("a", R"({"input_tokens": 1, "cost_usd": 0.6, "reservation_id": "ra"})");
  ASSERT_EQ(settled.result(), http::status::ok) << settled.body();
  EXPECT_TRUE(json(settled).at("reservation").at("settled").as_bool());
  EXPECT_EQ(team_spent(), 1'100'000'000);
  // Held alone reaches the limit for a new session.
  set_team_limits(R"({"daily_cost_limit_usd": 2})");
  ASSERT_EQ(reserve("a", R"({"amount_usd": 0.9, "reservation_id": "ra2"})").result(),
            http::status::created);
  auto refused = open("eng-2", "d");
  ASSERT_EQ(refused.result(), http::status::payment_required) << refused.body();
  EXPECT_EQ(json(refused).at("reserved").as_int64(), 900'000'000);
}

TEST_F(queue_reservations, settle_over_settle_release_and_the_budget_view) {
  setup(R"({"daily_cost_limit_usd": 5})");
  ASSERT_EQ(open("eng-1", "s1").result(), http::status::created);
  auto held = reserve("s1", R"({"amount_usd": 0.5, "ttl_seconds": 60, "reservation_id": "r1"})");
  ASSERT_EQ(held.result(), http::status::created) << held.body();
  auto h = json(held);
  EXPECT_EQ(h.at("amount_nanos").as_int64(), 500'000'000);
  EXPECT_EQ(h.at("status").as_string(), "held");
  EXPECT_EQ(h.at("expires_at").as_string(), "2026-11-23T10:01:00.000Z");
  auto b = budget("eng-1");
  EXPECT_EQ(b.at("daily_reserved_nanos").as_int64(), 500'000'000);
  EXPECT_EQ(b.at("daily_spent_nanos").as_int64(), 0);
  EXPECT_EQ(b.at("daily_remaining_nanos").as_int64(), 4'500'000'000);
  EXPECT_FALSE(b.at("over_budget").as_bool());
  EXPECT_EQ(b.at("limits").as_array().at(0).at("reserved_nanos").as_int64(), 500'000'000);

  // Settle below the amount: the actual cost is recorded, the hold is gone.
  auto s = report("s1", R"({"input_tokens": 1, "cost_usd": 0.4, "reservation_id": "r1"})");
  ASSERT_EQ(s.result(), http::status::ok) << s.body();
  auto sr = json(s).at("reservation").as_object();
  EXPECT_TRUE(sr.at("settled").as_bool());
  EXPECT_EQ(sr.at("actual_nanos").as_int64(), 400'000'000);
  EXPECT_FALSE(sr.at("over_reservation").as_bool());
  EXPECT_EQ(reservation("s1", "r1").at("status").as_string(), "settled");
  b = budget("eng-1");
  EXPECT_EQ(b.at("daily_reserved_nanos").as_int64(), 0);
  EXPECT_EQ(b.at("daily_spent_nanos").as_int64(), 400'000'000);

  // Over-settle: recorded in full, and the answer says by how much.
  ASSERT_EQ(reserve("s1", R"({"amount_usd": 0.1, "reservation_id": "r2"})").result(),
            http::status::created);
  auto over = report("s1", R"({"input_tokens": 1, "cost_usd": 0.25, "reservation_id": "r2"})");
  ASSERT_EQ(over.result(), http::status::ok);
  auto orr = json(over).at("reservation").as_object();
  EXPECT_TRUE(orr.at("over_reservation").as_bool());
  EXPECT_EQ(orr.at("over_reservation_amount_nanos").as_int64(), 150'000'000);
  EXPECT_EQ(team_spent(), 650'000'000);
  // A second report naming a settled reservation is an ordinary report.
  auto again = report("s1", R"({"input_tokens": 1, "cost_usd": 0.01, "reservation_id": "r2"})");
  ASSERT_EQ(again.result(), http::status::ok);
  EXPECT_FALSE(json(again).at("reservation").at("settled").as_bool());
  // Unknown reservation: 422, not counted.
  EXPECT_EQ(
      report("s1", R"({"input_tokens": 1, "cost_usd": 1, "reservation_id": "nope"})").result(),
      http::status::unprocessable_entity);
  EXPECT_EQ(team_spent(), 660'000'000);

  // Release: the hold is gone; releasing again answers the same.
  ASSERT_EQ(reserve("s1", R"({"amount_usd": 1, "reservation_id": "r3"})").result(),
            http::status::created);
  EXPECT_EQ(budget("eng-1").at("daily_reserved_nanos").as_int64(), 1'000'000'000);
  auto rel = release("s1", "r3");
  ASSERT_EQ(rel.result(), http::status::ok) << rel.body();
  EXPECT_EQ(json(rel).at("status").as_string(), "released");
  const auto n = ledger.appended().size();
  EXPECT_EQ(json(release("s1", "r3")).at("status").as_string(), "released");
  EXPECT_EQ(ledger.appended().size(), n);
  EXPECT_EQ(budget("eng-1").at("daily_reserved_nanos").as_int64(), 0);
  EXPECT_EQ(release("s1", "nope").result(), http::status::not_found);

  // Ending the session releases what it still holds.
  ASSERT_EQ(reserve("s1", R"({"amount_usd": 1, "reservation_id": "r4"})").result(),
            http::status::created);
  ASSERT_EQ(end("s1").result(), http::status::ok);
  EXPECT_EQ(reservation("s1", "r4").at("status").as_string(), "session_ended");
  EXPECT_EQ(budget("eng-1").at("daily_reserved_nanos").as_int64(), 0);
  EXPECT_EQ(reserve("s1", R"({"amount_usd": 1, "reservation_id": "r5"})").result(),
            http::status::payment_required);
}

TEST_F(queue_reservations, a_reservation_expires_at_exactly_expires_at) {
  setup(R"({"daily_cost_limit_usd": 1})");
  ASSERT_EQ(open("eng-1", "s1").result(), http::status::created);
  ASSERT_EQ(
      reserve("s1", R"({"amount_usd": 1, "ttl_seconds": 60, "reservation_id": "r1"})").result(),
      http::status::created);
  now = now_ms + 59'999;
  EXPECT_EQ(budget("eng-1").at("daily_reserved_nanos").as_int64(), 1'000'000'000);
  EXPECT_EQ(reserve("s1", R"({"amount_usd": 0.000000001, "reservation_id": "r2"})").result(),
            http::status::payment_required);
  now = now_ms + 60'000;
  EXPECT_EQ(budget("eng-1").at("daily_reserved_nanos").as_int64(), 0);
  EXPECT_EQ(reservation("s1", "r1").at("status").as_string(), "expired");
  // The room is free again; a report naming the expired reservation is decided without it.
  ASSERT_EQ(reserve("s1", R"({"amount_usd": 0.5, "reservation_id": "r2"})").result(),
            http::status::created);
  auto late = report("s1", R"({"input_tokens": 1, "cost_usd": 0.2, "reservation_id": "r1"})");
  ASSERT_EQ(late.result(), http::status::ok) << late.body();
  EXPECT_FALSE(json(late).at("reservation").at("settled").as_bool());
  EXPECT_EQ(json(late).at("reservation").at("status").as_string(), "expired");
  // The fold dropped r1 from the open holds when it folded r2 (by r2's time).
  deps.ledger->with_state([](live_view& live) {
    auto r = reservation_of(live, team_id{"acme"}, "r1");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, "expired");
  });
}

TEST_F(queue_reservations, a_retried_reservation_gets_the_original_answer) {
  setup(R"({"daily_cost_limit_usd": 5})");
  ASSERT_EQ(open("eng-1", "s1").result(), http::status::created);
  auto first = reserve("s1", R"({"amount_usd": 0.5, "reservation_id": "r1"})");
  ASSERT_EQ(first.result(), http::status::created);
  const auto n = ledger.appended().size();
  now += 5'000;
  auto retry = reserve("s1", R"({"amount_usd": 0.5, "reservation_id": "r1"})");
  EXPECT_EQ(retry.result(), http::status::created);
  EXPECT_EQ(retry.body(), first.body());
  EXPECT_EQ(ledger.appended().size(), n);
  auto other = reserve("s1", R"({"amount_usd": 0.7, "reservation_id": "r1"})");
  EXPECT_EQ(other.result(), http::status::unprocessable_entity) << other.body();
  EXPECT_NE(other.body().find("idempotency_key_reused"), std::string::npos);
  // By Idempotency-Key: the same reservation id each time.
  auto k1 = reserve("s1", R"({"estimated_cost_usd": 0.25})", "key-1");
  auto k2 = reserve("s1", R"({"estimated_cost_usd": 0.25})", "key-1");
  ASSERT_EQ(k1.result(), http::status::created);
  EXPECT_EQ(json(k1).at("reservation_id"), json(k2).at("reservation_id"));
  EXPECT_EQ(budget("eng-1").at("daily_reserved_nanos").as_int64(), 750'000'000);
  // A settled report retried is one fact.
  auto s = report("s1", R"({"input_tokens": 1, "cost_usd": 0.5, "reservation_id": "r1"})", "u1");
  auto s2 = report("s1", R"({"input_tokens": 1, "cost_usd": 0.5, "reservation_id": "r1"})", "u1");
  EXPECT_EQ(s.result(), http::status::ok);
  EXPECT_EQ(s2.result(), http::status::ok);
  EXPECT_TRUE(json(s2).at("duplicate").as_bool());
  EXPECT_EQ(team_spent(), 500'000'000);
  // The same key, another reservation: another body.
  EXPECT_EQ(report("s1", R"({"input_tokens": 1, "cost_usd": 0.5})", "u1").result(),
            http::status::unprocessable_entity);
}

TEST_F(queue_reservations, reservations_on_queued_and_ended_sessions_are_refused) {
  setup(R"({"max_concurrent_agents": 1})");
  ASSERT_EQ(open("eng-1", "s1").result(), http::status::created);
  ASSERT_EQ(open("eng-2", "s2").result(), http::status::accepted);
  EXPECT_EQ(reserve("s2", R"({"amount_usd": 1})").result(), http::status::conflict);
  ASSERT_EQ(end("s1").result(), http::status::ok);
  EXPECT_EQ(reserve("s1", R"({"amount_usd": 1})").result(), http::status::payment_required);
  EXPECT_EQ(reserve("s2", R"({"amount_usd": 1})").result(), http::status::created);
  EXPECT_EQ(reserve("s2", R"({"amount_usd": 0})").result(), http::status::unprocessable_entity);
  EXPECT_EQ(reserve("s2", R"({"amount_usd": 1, "ttl_seconds": 0})").result(),
            http::status::unprocessable_entity);
  EXPECT_EQ(reserve("s2", R"({"amount_usd": 1, "bogus": 1})").result(),
            http::status::unprocessable_entity);
}

TEST_F(queue_reservations, replaying_every_appended_event_reaches_the_same_rows) {
  setup(R"({"max_concurrent_agents": 1, "daily_cost_limit_usd": 2})");
  ASSERT_EQ(open("eng-1", "s1").result(), http::status::created);
  ASSERT_EQ(open("eng-2", "s2").result(), http::status::accepted);
  ASSERT_EQ(
      reserve("s1", R"({"amount_usd": 0.5, "ttl_seconds": 30, "reservation_id": "r1"})").result(),
      http::status::created);
  ASSERT_EQ(reserve("s1", R"({"amount_usd": 0.5, "reservation_id": "r2"})").result(),
            http::status::created);
  ASSERT_EQ(
      report("s1", R"({"input_tokens": 3, "cost_usd": 0.3, "reservation_id": "r2"})").result(),
      http::status::ok);
  now += 40'000;
  ASSERT_EQ(reserve("s1", R"({"amount_usd": 0.1, "reservation_id": "r3"})").result(),
            http::status::created);
  ASSERT_EQ(end("s1").result(), http::status::ok);
  ASSERT_EQ(status("s2"), "active");

  ledger_state replayed;
  for (auto& e : ledger.appended()) {
    auto back = decode_event(encode_event(e));
    ASSERT_TRUE(back);
    replayed.apply(*back);
  }
  auto render = [](std::vector<ledger_state::change> changes) {
    std::string out;
    for (auto& c : changes) {
      out += std::to_string(static_cast<int>(c.cf)) + " " + c.key + " = " + c.value + "\n";
    }
    return out;
  };
  const auto live = render(ledger.state().drain());
  EXPECT_EQ(render(replayed.drain()), live);
  EXPECT_NE(live.find(R"(reservation/acme/r1 = )"), std::string::npos);
  EXPECT_NE(live.find(R"("status":"expired")"), std::string::npos) << live;
  EXPECT_NE(live.find(R"(holds/acme = [])"), std::string::npos) << live;
  EXPECT_NE(live.find(R"(queue/acme = [])"), std::string::npos) << live;
}

// The pure parts: the fold's rows and the activation decision over a live view.
TEST(slots_fold, counters_and_queue_follow_the_session_events) {
  ledger_state state;
  live_view live(state);
  const team_id acme{"acme"};
  auto ev = [](std::string id, time_ms t, event_payload p) {
    event e;
    e.id = event_id{std::move(id)};
    e.time = t;
    e.payload = std::move(p);
    return e;
  };
  state.apply(ev("t", now_ms, team_created{acme, "Acme", "UTC"}));
  state.apply(ev("a", now_ms, agent_registered{acme, agent_id{"eng-1"}, "", ""}));
  limit_set l;
  l.max_concurrent_sessions = 1;
  state.apply(ev("l", now_ms, limits_set{acme, limit_scope::team, "acme", l}));
  session_opened q{acme, agent_id{"eng-1"}, session_id{"s2"}, task_id{}, "m", ""};
  q.queued = true;
  state.apply(ev("o1", now_ms,
                 session_opened{acme, agent_id{"eng-1"}, session_id{"s1"}, task_id{}, "m", ""}));
  state.apply(ev("o2", now_ms, q));
  EXPECT_EQ(active_sessions(live, "t/acme"), 1);
  EXPECT_EQ(queue_position(live, acme, session_id{"s2"}), 1);
  limit_policy policy;
  // Nothing fits while s1 runs; once its end is pending (decided, not folded), s2 does.
  EXPECT_TRUE(activate_queued(live, policy, acme, now_ms, "tally", {}).empty());
  auto ended = ev("e1", now_ms, session_ended{acme, session_id{"s1"}, session_status::completed});
  auto acts = activate_queued(live, policy, acme, now_ms, "tally", std::span(&ended, 1));
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_EQ(acts[0].id.str(), "activate-s2");
  // The tentative events left the live view as they were.
  EXPECT_EQ(live.pending(), 0u);
  EXPECT_EQ(active_sessions(live, "t/acme"), 1);
  // Pending events are seen through the overlay before they are folded.
  live.add_pending(ended);
  live.add_pending(acts[0]);
  EXPECT_EQ(active_sessions(live, "t/acme"), 1);
  EXPECT_EQ(queue_position(live, acme, session_id{"s2"}), 0);
  EXPECT_EQ(live.status(acme, session_id{"s2"}), session_status::active);
  state.apply(ended);
  live.remove_pending(ended);
  state.apply(acts[0]);
  live.remove_pending(acts[0]);
  EXPECT_EQ(active_sessions(live, "t/acme"), 1);
  EXPECT_EQ(active_sessions(live, "a/eng-1"), 1);
  EXPECT_TRUE(queue_of(live, acme).empty());
}

}  // namespace
}  // namespace tally::api
