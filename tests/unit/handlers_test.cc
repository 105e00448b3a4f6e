// The API's handlers as plain functions over an in-memory ledger: the Entourage guide's flow with
// its JSON shapes, answers sent only once the events are durable, reads that reflect the node's
// acknowledged writes before they are folded, exact money, refusals (402 with the limit), bad
// input answered 4xx with nothing appended, and the access rules per team.
#include "api/handlers.h"

#include <gtest/gtest.h>
#include <cstdio>

#include <boost/json.hpp>

#include "producers/loadgen/batch_answer.h"
#include "schemas/event_time.h"
#include "schemas/text_hash.h"
#include "tests/support/memory_ledger.h"

namespace tally::api {
namespace {

const time_ms now_ms = 1'795'428'000'000;  // 2026-11-23T10:00:00Z

using handler = void (*)(api_deps&, request_ctx&, respond_fn);

class handlers : public ::testing::Test {
 protected:
  void SetUp() override {
    deps.ledger = &ledger;
    deps.policy = &policy;
    deps.pricing = &pricing;
    deps.clock = [this] { return now; };
  }

  struct call_result {
    std::optional<http_response> res;
    bool answered_before_delivery = false;
  };

  // Calls a handler as the dispatcher does (api_error becomes its problem answer), then delivers
  // what it appended.
  http_response call(handler h, http::verb verb, std::string body,
                     std::vector<std::pair<std::string, std::string>> path = {},
                     std::vector<std::pair<std::string, std::string>> query = {},
                     std::optional<principal> who = std::nullopt, std::string idempotency_key = {},
                     bool fold = true) {
    auto r = start(h, verb, std::move(body), std::move(path), std::move(query), who,
                   std::move(idempotency_key));
    ledger.deliver(true, fold);
    EXPECT_TRUE(*r) << "no answer";
    return std::move(**r);
  }

  std::shared_ptr<std::optional<http_response>> start(
      handler h, http::verb verb, std::string body,
      std::vector<std::pair<std::string, std::string>> path,
      std::vector<std::pair<std::string, std::string>> query, std::optional<principal> who,
      std::string idempotency_key = {}) {
    request_ctx ctx;
    ctx.req.method(verb);
    ctx.req.body() = std::move(body);
    if (!idempotency_key.empty()) ctx.req.set("Idempotency-Key", idempotency_key);
    ctx.path.items = std::move(path);
    ctx.query.items = std::move(query);
    ctx.caller = who.value_or(principal{role::admin, "", "k-admin"});
    auto out = std::make_shared<std::optional<http_response>>();
    try {
      h(deps, ctx, [out](http_response res) { *out = std::move(res); });
    } catch (const api_error& e) {
      *out = problem(e.status, e.slug, "Refused", e.what());
    }
    return out;
  }

  static boost::json::object json(const http_response& res) {
    return boost::json::parse(res.body()).as_object();
  }

  void guide_setup() {
    ASSERT_EQ(
        call(create_team, http::verb::post, R"({"id": "acme", "name": "Acme", "timezone": "UTC"})")
            .result(),
        http::status::created);
    ASSERT_EQ(call(register_agent, http::verb::post, R"({"id": "eng-1", "name": "eng-1"})",
                   {{"team_id", "acme"}})
                  .result(),
              http::status::created);
  }

  std::string open_session(std::string body = R"({"model": "claude-sonnet-4-20250514"})") {
    auto res = call(open_agent_session, http::verb::post, std::move(body), {{"agent_id", "eng-1"}});
    EXPECT_EQ(res.result(), http::status::created) << res.body();
    return std::string(json(res).at("session_id").as_string());
  }

  http_response usage(const std::string& session, std::string body, std::string key = {}) {
    return call(report_usage, http::verb::post, std::move(body), {{"session_id", session}}, {},
                std::nullopt, std::move(key));
  }

  http_response budget(std::vector<std::pair<std::string, std::string>> query = {}) {
    return call(agent_budget, http::verb::get, "", {{"agent_id", "eng-1"}}, std::move(query));
  }

  testing::memory_ledger ledger;
  limit_policy policy;
  pricing_table pricing;
  api_deps deps;
  time_ms now = now_ms;
};

TEST_F(handlers, the_guides_session_flow_with_its_json_shapes) {
  guide_setup();
  auto task = call(create_task, http::verb::post,
                   R"({"title": "Fix typo in README", "priority": "low",
                       "task_type": "bugfix", "tags": ["budget:0.50"]})",
                   {{"team_id", "acme"}});
  ASSERT_EQ(task.result(), http::status::created) << task.body();
  EXPECT_EQ(json(task).at("id").as_string(), "1");
  EXPECT_EQ(json(task).at("budget_nanos").as_int64(), 500'000'000);

  auto session = open_session(R"({"task_id": 1, "model": "claude-sonnet-4-20250514"})");
  auto u = usage(session, R"({"input_tokens": 2500, "output_tokens": 800, "cost_usd": 0.012})");
  ASSERT_EQ(u.result(), http::status::ok) << u.body();
  EXPECT_EQ(json(u).at("cost_nanos").as_int64(), 12'000'000);
  EXPECT_EQ(json(u).at("action").as_string(), "continue");

  auto b = budget();
  ASSERT_EQ(b.result(), http::status::ok) << b.body();
  auto o = json(b);
  // The guide's fields, exactly; money as exact numbers plus nanos.
  for (auto k : {"daily_limit_usd", "daily_spent_usd", "daily_remaining_usd", "task_limit_usd",
                 "task_spent_usd", "over_budget", "monthly_limit_usd", "monthly_spent_usd",
                 "rejected_cost_usd", "resets_at"}) {
    EXPECT_TRUE(o.contains(k)) << k;
  }
  EXPECT_NE(b.body().find(R"("task_limit_usd":0.5,)"), std::string::npos) << b.body();
  EXPECT_NE(b.body().find(R"("task_spent_usd":0.012,)"), std::string::npos) << b.body();
  EXPECT_TRUE(o.at("daily_limit_usd").is_null());  // no limits until someone sets them
  EXPECT_EQ(o.at("daily_spent_nanos").as_int64(), 12'000'000);
  EXPECT_EQ(o.at("task_id").as_string(), "1");  // the task of the latest session
  EXPECT_FALSE(o.at("over_budget").as_bool());

  auto patch = call(patch_team_settings, http::verb::patch, R"({"daily_cost_limit_usd": 10.00})",
                    {{"team_id", "acme"}});
  ASSERT_EQ(patch.result(), http::status::ok) << patch.body();
  o = json(budget());
  EXPECT_EQ(o.at("daily_limit_nanos").as_int64(), 10'000'000'000);
  EXPECT_EQ(o.at("daily_remaining_nanos").as_int64(), 9'988'000'000);
  EXPECT_EQ(o.at("daily_scope").as_string(), "team:acme");

  auto end = call(tally::api::end_session, http::verb::post, "", {{"session_id", session}});
  ASSERT_EQ(end.result(), http::status::ok) << end.body();
  EXPECT_EQ(json(end).at("status").as_string(), "completed");

  // Usage after the end is refused and recorded as rejected, beside the totals.
  auto late = usage(session, R"({"input_tokens": 10, "output_tokens": 1, "cost_usd": 0.5})");
  EXPECT_EQ(late.result(), http::status::payment_required) << late.body();
  EXPECT_EQ(late[http::field::content_type], "application/problem+json");
  o = json(budget());
  EXPECT_EQ(o.at("rejected_cost_nanos").as_int64(), 500'000'000);
  EXPECT_EQ(o.at("daily_spent_nanos").as_int64(), 12'000'000);

  auto costs = call(team_costs, http::verb::get, "", {{"team_id", "acme"}});
  ASSERT_EQ(costs.result(), http::status::ok);
  auto c = json(costs);
  EXPECT_EQ(c.at("total_cost_nanos").as_int64(), 12'000'000);
  EXPECT_EQ(c.at("total_input_tokens").as_int64(), 2500);
  EXPECT_EQ(c.at("total_output_tokens").as_int64(), 800);
  auto& s0 = c.at("sessions").as_array().at(0).as_object();
  for (auto k : {"agent_name", "task_title", "cost_usd", "tokens", "duration_minutes"}) {
    EXPECT_TRUE(s0.contains(k)) << k;
  }
  EXPECT_EQ(s0.at("task_title").as_string(), "Fix typo in README");
  EXPECT_EQ(s0.at("tokens").as_int64(), 3300);
}

TEST_F(handlers, a_write_is_answered_only_once_durable_and_503_when_the_append_fails) {
  guide_setup();
  auto session = open_session();
  auto pending = start(report_usage, http::verb::post, R"({"cost_usd": 0.01})",
                       {{"session_id", session}}, {}, std::nullopt);
  EXPECT_FALSE(*pending);  // decided and appended, not yet durable
  ledger.deliver(true);
  ASSERT_TRUE(*pending);
  EXPECT_EQ((*pending)->result(), http::status::ok);

  auto failing = start(report_usage, http::verb::post, R"({"cost_usd": 0.01})",
                       {{"session_id", session}}, {}, std::nullopt);
  ledger.deliver(false);
  ASSERT_TRUE(*failing);
  EXPECT_EQ((*failing)->result(), http::status::service_unavailable);
}

TEST_F(handlers, reads_reflect_acknowledged_writes_before_they_are_folded) {
  guide_setup();
  auto session = open_session();
  auto u = call(report_usage, http::verb::post, R"({"cost_usd": 0.25})", {{"session_id", session}},
                {}, std::nullopt, {}, /*fold=*/false);
  ASSERT_EQ(u.result(), http::status::ok);
  EXPECT_EQ(json(budget()).at("daily_spent_nanos").as_int64(), 250'000'000);
}

TEST_F(handlers, the_crossing_report_is_told_to_stop_the_next_is_refused_with_the_limit) {
  guide_setup();
  call(patch_team_settings, http::verb::patch, R"({"daily_cost_limit_usd": 0.02})",
       {{"team_id", "acme"}});
  auto session = open_session();
  auto a = json(usage(session, R"({"cost_usd": 0.015})"));
  EXPECT_EQ(a.at("action").as_string(), "continue");
  auto b = json(usage(session, R"({"cost_usd": 0.01})"));
  EXPECT_TRUE(b.at("over_budget").as_bool());
  EXPECT_EQ(b.at("action").as_string(), "stop");
  auto c = usage(session, R"({"cost_usd": 0.001})");
  EXPECT_EQ(c.result(), http::status::payment_required);
  EXPECT_EQ(json(c).at("action").as_string(), "stop");
  // Asking to spend more: a new session is refused with the scope, window, limit and spent.
  auto s = call(open_agent_session, http::verb::post, R"({"model": "m"})", {{"agent_id", "eng-1"}});
  ASSERT_EQ(s.result(), http::status::payment_required) << s.body();
  auto p = json(s);
  EXPECT_EQ(p.at("scope").as_string(), "team:acme");
  EXPECT_EQ(p.at("window").as_string(), "day");
  EXPECT_EQ(p.at("limit").as_int64(), 20'000'000);
  EXPECT_EQ(p.at("spent").as_int64(), 25'000'000);
  EXPECT_TRUE(json(budget()).at("over_budget").as_bool());
}

// tally-loadgen counts a batch's events from the head of its answer (batch_answer.h): it must
// read what this handler writes, refused items apart (a limit, an unknown session).
TEST_F(handlers, the_load_generator_reads_the_batch_answers_counts) {
  guide_setup();
  call(patch_team_settings, http::verb::patch, R"({"daily_cost_limit_usd": 0.02})",
       {{"team_id", "acme"}});
  auto session = open_session();
  auto item = [&](std::string id, std::string cost) {
    return R"({"session_id": ")" + session + R"(", "event_id": ")" + id + R"(", "cost_usd": )" +
           cost + "}";
  };
  auto batch = call(report_usage_batch, http::verb::post,
                    R"({"reports": [)" + item("b1", "0.01") + "," + item("b2", "0.015") + "," +
                        item("b3", "0.001") + R"(, {"session_id": "ses_none", "cost_usd": 1}]})");
  ASSERT_EQ(batch.result(), http::status::ok) << batch.body();
  const auto answer = json(batch);
  // b2 crosses (accepted, told to stop), b3 is refused, the unknown session is refused.
  ASSERT_EQ(answer.at("accepted").as_int64(), 2) << batch.body();
  ASSERT_EQ(answer.at("refused").as_int64(), 2) << batch.body();
  EXPECT_EQ(loadgen::batch_counts(batch.body()), (std::pair<std::uint64_t, std::uint64_t>{2, 2}));
  EXPECT_EQ(loadgen::batch_counts(R"({"type": "about:blank", "status": 503})"),
            (std::pair<std::uint64_t, std::uint64_t>{0, 0}));
}

TEST_F(handlers, money_is_exact_in_every_json_number_form) {
  guide_setup();
  auto session = open_session();
  EXPECT_EQ(json(usage(session, R"({"cost_usd": 1.2e-2})")).at("cost_nanos").as_int64(),
            12'000'000);
  EXPECT_EQ(json(usage(session, R"({"cost_usd": 12E-3})")).at("cost_nanos").as_int64(), 12'000'000);
  // Half-even to the nano: 1.5 nanos -> 2, 2.5 nanos -> 2.
  EXPECT_EQ(json(usage(session, R"({"cost_usd": 0.0000000015})")).at("cost_nanos").as_int64(), 2);
  EXPECT_EQ(json(usage(session, R"({"cost_usd": 0.0000000025})")).at("cost_nanos").as_int64(), 2);
  auto u = usage(session, R"({"cost_usd": 0.1})");
  EXPECT_NE(u.body().find(R"("cost_usd":0.1,)"), std::string::npos) << u.body();
}

TEST_F(handlers, openai_usage_is_normalised_so_cached_tokens_count_once) {
  guide_setup();
  auto session = open_session();
  auto u = json(usage(session, R"({"usage": {"prompt_tokens": 1000, "completion_tokens": 50,
                                             "prompt_tokens_details": {"cached_tokens": 400}}})"));
  EXPECT_EQ(u.at("input_tokens").as_int64(), 600);
  EXPECT_EQ(u.at("cache_read_input_tokens").as_int64(), 400);
  EXPECT_EQ(u.at("output_tokens").as_int64(), 50);
}

TEST_F(handlers, bad_input_is_answered_4xx_and_appends_nothing) {
  guide_setup();
  auto session = open_session();
  const auto before = ledger.appended().size();
  struct bad {
    std::string body;
    http::status status;
  };
  for (auto& [body, status] : std::vector<bad>{
           {R"({"cost_usd": 0.01)", http::status::bad_request},
           {R"([1, 2])", http::status::bad_request},
           {R"({"cost_usd": "0.01"})", http::status::unprocessable_entity},
           {R"({"cost_usd": 0.01, "cots_usd": 1})", http::status::unprocessable_entity},
           {R"({"input_tokens": -5})", http::status::unprocessable_entity},
           {R"({"input_tokens": 1.5})", http::status::unprocessable_entity},
           {R"({"cost_usd": -0.01})", http::status::unprocessable_entity},
           {R"({"cost_usd": 1e400})", http::status::unprocessable_entity},
           {R"({"occurred_at": "yesterday"})", http::status::unprocessable_entity},
           {R"({"occurred_at": "2026-11-23T11:00:00Z"})", http::status::unprocessable_entity},
       }) {
    auto res = usage(session, body);
    EXPECT_EQ(res.result(), status) << body << " -> " << res.body();
    EXPECT_EQ(res[http::field::content_type], "application/problem+json") << body;
  }
  EXPECT_EQ(usage("ses_nope", R"({"cost_usd": 0.01})").result(), http::status::not_found);
  EXPECT_EQ(ledger.appended().size(), before);
}

TEST_F(handlers, a_retried_report_gets_the_original_answer_and_a_reused_key_is_refused) {
  guide_setup();
  call(patch_team_settings, http::verb::patch, R"({"daily_cost_limit_usd": 0.015})",
       {{"team_id", "acme"}});
  auto session = open_session();
  auto first = usage(session, R"({"cost_usd": 0.01})", "retry-1");
  ASSERT_EQ(first.result(), http::status::ok);
  // Folded or still pending, the retry is answered as the first time, and counted once.
  for (bool fold : {false, true}) {
    auto again = call(report_usage, http::verb::post, R"({"cost_usd": 0.01})",
                      {{"session_id", session}}, {}, std::nullopt, "retry-1", fold);
    ASSERT_EQ(again.result(), http::status::ok) << again.body();
    EXPECT_TRUE(json(again).at("duplicate").as_bool());
    EXPECT_EQ(json(again).at("cost_nanos").as_int64(), 10'000'000);
    EXPECT_EQ(json(again).at("action").as_string(), "continue");
  }
  EXPECT_EQ(json(budget()).at("daily_spent_nanos").as_int64(), 10'000'000);
  // The same key with another body: 422, and nothing changes.
  auto reused = usage(session, R"({"cost_usd": 0.02})", "retry-1");
  EXPECT_EQ(reused.result(), http::status::unprocessable_entity) << reused.body();
  EXPECT_EQ(json(reused).at("type").as_string(),
            "https://tally.dev/problems/idempotency_key_reused");
  // A refused report retried: refused again the same way, still counted once as rejected.
  ASSERT_EQ(usage(session, R"({"cost_usd": 0.01})", "over").result(), http::status::ok);
  auto refused = usage(session, R"({"cost_usd": 0.01})", "late");
  ASSERT_EQ(refused.result(), http::status::payment_required);
  EXPECT_NE(refused.body().find(R"("rejected_cost_usd":0.01,)"), std::string::npos);
  EXPECT_EQ(json(refused).at("rejected_cost_nanos").as_int64(), 10'000'000);
  auto refused_again = usage(session, R"({"cost_usd": 0.01})", "late");
  EXPECT_EQ(refused_again.result(), http::status::payment_required);
  EXPECT_TRUE(json(refused_again).at("duplicate").as_bool());
  EXPECT_EQ(json(budget()).at("rejected_cost_nanos").as_int64(), 10'000'000);
}

// A $0.01 usage event of eng-1 on session, recorded at `at` with the given tokens and
// fingerprint, as a decision of an earlier report left it in the ledger.
event recorded_with_hash(std::string id, time_ms at, const std::string& session,
                         token_counts tokens, std::string request_hash) {
  usage_recorded u;
  u.team = team_id{"acme"};
  u.agent = agent_id{"eng-1"};
  u.session = session_id{session};
  u.tokens = tokens;
  u.cost = nanos{10'000'000};
  u.source = cost_source::reported;
  u.occurred_at = at;
  u.day = "2026-11-23";
  u.month = "2026-11";
  u.request_hash = std::move(request_hash);
  event e;
  e.id = event_id{std::move(id)};
  e.time = at;
  e.payload = u;
  return e;
}

// Reports decided before fingerprints were XXH3 keep the first 16 hex digits of SHA-256 of the
// same canonical text: a retry across that upgrade still gets its original answer, and the key
// with another body is still refused.
TEST_F(handlers, a_report_fingerprinted_by_an_earlier_version_is_still_known_on_retry) {
  guide_setup();
  auto session = open_session();
  // The event as the earlier version decided it (no model, no time in the body: "-").
  ASSERT_EQ(ledger.state().apply(recorded_with_hash(
                "old-1", now, session, {}, sha256_hex(session + "|0|0|0|0|10000000|-|-", 16))),
            fold_outcome::applied);
  const auto before = ledger.appended().size();

  auto again = usage(session, R"({"cost_usd": 0.01})", "old-1");
  ASSERT_EQ(again.result(), http::status::ok) << again.body();
  EXPECT_TRUE(json(again).at("duplicate").as_bool());
  EXPECT_EQ(json(again).at("cost_nanos").as_int64(), 10'000'000);
  auto reused = usage(session, R"({"cost_usd": 0.02})", "old-1");
  EXPECT_EQ(reused.result(), http::status::unprocessable_entity) << reused.body();
  // In a batch too.
  auto batch = call(report_usage_batch, http::verb::post,
                    R"({"reports": [{"session_id": ")" + session +
                        R"(", "event_id": "old-1", "cost_usd": 0.01}, {"session_id": ")" + session +
                        R"(", "event_id": "old-1", "cost_usd": 0.03}]})");
  ASSERT_EQ(batch.result(), http::status::ok) << batch.body();
  auto results = json(batch).at("results").as_array();
  EXPECT_EQ(results.at(0).at("status").as_string(), "duplicate") << batch.body();
  EXPECT_EQ(results.at(1).at("http_status").as_int64(), 422) << batch.body();
  EXPECT_EQ(ledger.appended().size(), before);  // nothing decided again
  EXPECT_EQ(json(budget()).at("daily_spent_nanos").as_int64(), 10'000'000);
}

// The fingerprint kept with an event is the 16 hex digits of XXH3 of the report's canonical
// text, however it is put together: a report recorded with exactly that fingerprint is the same
// report on retry (its first comparison), and the key with another body is refused.
TEST_F(handlers, the_fingerprint_is_xxh3_of_the_canonical_text) {
  guide_setup();
  auto session = open_session();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(text_hash(
                    session + "|1200|34|5|6|10000000|claude-sonnet-4-5|" + std::to_string(now))));
  ASSERT_EQ(ledger.state().apply(recorded_with_hash(
                "fp-1", now, session,
                {.input = 1200, .output = 34, .cache_creation = 5, .cache_read = 6}, hex)),
            fold_outcome::applied);
  const auto before = ledger.appended().size();
  const std::string body = R"({"input_tokens": 1200, "output_tokens": 34,
      "cache_creation_input_tokens": 5, "cache_read_input_tokens": 6, "cost_usd": 0.01,
      "model": "claude-sonnet-4-5", "occurred_at": ")" +
                           format_rfc3339(now) + "\"}";
  auto again = usage(session, body, "fp-1");
  ASSERT_EQ(again.result(), http::status::ok) << again.body();
  EXPECT_TRUE(json(again).at("duplicate").as_bool()) << again.body();
  auto other = usage(session, R"({"input_tokens": 1201, "cost_usd": 0.01})", "fp-1");
  EXPECT_EQ(other.result(), http::status::unprocessable_entity) << other.body();
  EXPECT_EQ(ledger.appended().size(), before);
}

TEST_F(handlers, an_entity_command_retried_with_its_key_is_not_applied_twice) {
  guide_setup();
  auto task = [&] {
    return call(create_task, http::verb::post, R"({"title": "t"})", {{"team_id", "acme"}}, {},
                std::nullopt, "task-key");
  };
  ASSERT_EQ(task().result(), http::status::created);
  auto again = task();
  EXPECT_EQ(again.result(), http::status::conflict) << again.body();
  auto list = call(list_tasks, http::verb::get, "", {{"team_id", "acme"}});
  EXPECT_EQ(json(list).at("tasks").as_array().size(), 1u);
  // Opening a session, retried with its key: the same session, opened once.
  auto open = [&](std::string body) {
    return call(open_agent_session, http::verb::post, std::move(body), {{"agent_id", "eng-1"}}, {},
                std::nullopt, "open-key");
  };
  auto first = open(R"({"model": "m"})");
  ASSERT_EQ(first.result(), http::status::created);
  auto retry = open(R"({"model": "m"})");
  EXPECT_EQ(retry.result(), http::status::ok);
  EXPECT_EQ(json(retry).at("session_id"), json(first).at("session_id"));
  EXPECT_EQ(open(R"({"model": "other"})").result(), http::status::conflict);
  auto sessions = call(list_agent_sessions, http::verb::get, "", {{"agent_id", "eng-1"}});
  EXPECT_EQ(json(sessions).at("sessions").as_array().size(), 1u);
}

TEST_F(handlers, credentials_act_only_within_their_team_and_role) {
  guide_setup();
  call(create_team, http::verb::post, R"({"id": "beta"})");
  auto session = open_session();
  principal reader{role::reader, "acme", "k-r"};
  principal agent_beta{role::agent, "beta", "k-b"};
  principal agent_acme{role::agent, "acme", "k-a"};
  auto as = [&](principal p, handler h, http::verb v, std::string body,
                std::vector<std::pair<std::string, std::string>> path) {
    return call(h, v, std::move(body), std::move(path), {}, p).result();
  };
  EXPECT_EQ(as(reader, agent_budget, http::verb::get, "", {{"agent_id", "eng-1"}}),
            http::status::ok);
  EXPECT_EQ(
      as(reader, report_usage, http::verb::post, R"({"cost_usd": 1})", {{"session_id", session}}),
      http::status::forbidden);
  EXPECT_EQ(as(agent_beta, agent_budget, http::verb::get, "", {{"agent_id", "eng-1"}}),
            http::status::forbidden);
  EXPECT_EQ(as(agent_beta, report_usage, http::verb::post, R"({"cost_usd": 1})",
               {{"session_id", session}}),
            http::status::forbidden);
  EXPECT_EQ(as(agent_acme, patch_team_settings, http::verb::patch, R"({"daily_cost_limit_usd": 1})",
               {{"team_id", "acme"}}),
            http::status::forbidden);
  EXPECT_EQ(as(agent_acme, create_team, http::verb::post, R"({"id": "gamma"})", {}),
            http::status::forbidden);
  EXPECT_EQ(as(agent_acme, report_usage, http::verb::post, R"({"cost_usd": 1})",
               {{"session_id", session}}),
            http::status::ok);
  EXPECT_EQ(json(budget()).at("daily_spent_nanos").as_int64(), 1'000'000'000);
}

TEST_F(handlers, a_batch_decides_each_report_on_its_own_in_order) {
  guide_setup();
  call(patch_team_settings, http::verb::patch, R"({"daily_cost_limit_usd": 0.03})",
       {{"team_id", "acme"}});
  auto s = open_session();
  std::string body = R"({"reports": [
      {"session_id": ")" +
                     s + R"(", "event_id": "b1", "cost_usd": 0.02},
      {"session_id": ")" +
                     s + R"(", "event_id": "b1", "cost_usd": 0.02},
      {"session_id": ")" +
                     s + R"(", "event_id": "b2", "cost_usd": 0.02},
      {"session_id": ")" +
                     s + R"(", "event_id": "b3", "cost_usd": 0.02},
      {"session_id": "ses_unknown", "event_id": "b4", "cost_usd": 0.02},
      {"session_id": ")" +
                     s + R"(", "event_id": "b5", "cost_usd": "1"}]})";
  auto pending = start(report_usage_batch, http::verb::post, body, {}, {}, std::nullopt);
  EXPECT_FALSE(*pending);  // answered once durable
  // Decided, not yet durable: the live view counts each decision once.
  EXPECT_EQ(json(budget()).at("daily_spent_nanos").as_int64(), 40'000'000);
  EXPECT_EQ(json(budget()).at("rejected_cost_nanos").as_int64(), 20'000'000);
  ledger.deliver();
  ASSERT_TRUE(*pending);
  ASSERT_EQ((*pending)->result(), http::status::ok) << (*pending)->body();
  auto o = json(**pending);
  auto& r = o.at("results").as_array();
  ASSERT_EQ(r.size(), 6u);
  auto status = [&](int i) { return std::string(r.at(i).at("status").as_string()); };
  EXPECT_EQ(status(0), "recorded");
  EXPECT_EQ(status(1), "duplicate");  // the same event id earlier in the batch
  EXPECT_EQ(status(2), "recorded");   // crosses the limit: recorded, told to stop
  EXPECT_EQ(r.at(2).at("action").as_string(), "stop");
  EXPECT_EQ(status(3), "rejected");
  EXPECT_EQ(r.at(3).at("http_status").as_int64(), 402);
  // Each decided item carries its own event's cost and verdict; the others carry none.
  for (int i : {0, 2, 3}) EXPECT_EQ(r.at(i).at("cost_nanos").as_int64(), 20'000'000) << i;
  EXPECT_EQ(r.at(0).at("action").as_string(), "continue");
  EXPECT_FALSE(r.at(0).at("over_budget").as_bool());
  EXPECT_TRUE(r.at(3).at("over_budget").as_bool());
  for (int i : {1, 4, 5}) EXPECT_FALSE(r.at(i).as_object().contains("cost_nanos")) << i;
  EXPECT_EQ(status(4), "invalid");
  EXPECT_EQ(r.at(4).at("http_status").as_int64(), 404);
  EXPECT_EQ(r.at(5).at("http_status").as_int64(), 422);
  EXPECT_EQ(o.at("accepted").as_int64(), 2);
  EXPECT_EQ(o.at("refused").as_int64(), 3);
  EXPECT_EQ(o.at("duplicates").as_int64(), 1);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(r.at(i).at("index").as_int64(), i);
  EXPECT_EQ(r.at(0).at("event_id").as_string(), "b1");
  EXPECT_EQ(r.at(0).at("session_id").as_string(), s);
  // Money goes out as the exact decimal.
  EXPECT_NE((*pending)->body().find(R"("cost_usd":0.02,"cost_nanos":20000000,)"), std::string::npos)
      << (*pending)->body();
  EXPECT_FALSE(r.at(0).as_object().contains("reason"));
  EXPECT_TRUE(std::string(r.at(3).at("reason").as_string()).starts_with("limit_reached:"));
  EXPECT_TRUE(std::string(r.at(4).at("reason").as_string()).starts_with("session_not_found"));
  EXPECT_EQ(json(budget()).at("daily_spent_nanos").as_int64(), 40'000'000);
  EXPECT_EQ(json(budget()).at("rejected_cost_nanos").as_int64(), 20'000'000);
}

// The batch's answer is written once its items are decided, but sent only when every append is
// durable: a failed append makes it a 503 problem instead (no item may be told it was counted).
TEST_F(handlers, a_batch_whose_append_fails_is_answered_503_not_with_its_results) {
  guide_setup();
  auto s = open_session();
  std::string body = R"({"reports": [{"session_id": ")" + s +
                     R"(", "event_id": "f1", "cost_usd": 0.02}, {"session_id": ")" + s +
                     R"(", "event_id": "f2", "cost_usd": 0.03}]})";
  auto failing = start(report_usage_batch, http::verb::post, body, {}, {}, std::nullopt);
  EXPECT_FALSE(*failing);
  ledger.deliver(false);
  ASSERT_TRUE(*failing);
  EXPECT_EQ((*failing)->result(), http::status::service_unavailable) << (*failing)->body();
  EXPECT_EQ((*failing)->at(http::field::content_type), "application/problem+json");
  EXPECT_EQ((*failing)->body().find("results"), std::string::npos) << (*failing)->body();
  EXPECT_EQ(json(budget()).at("daily_spent_nanos").as_int64(), 0);

  // Retried, the same reports are taken and the answer lists them.
  auto retried = start(report_usage_batch, http::verb::post, body, {}, {}, std::nullopt);
  ledger.deliver();
  ASSERT_TRUE(*retried);
  ASSERT_EQ((*retried)->result(), http::status::ok) << (*retried)->body();
  auto o = json(**retried);
  EXPECT_EQ(o.at("accepted").as_int64(), 2);
  EXPECT_EQ(o.at("results").as_array().at(1).at("cost_nanos").as_int64(), 30'000'000);
  EXPECT_EQ(json(budget()).at("daily_spent_nanos").as_int64(), 50'000'000);
}

// A batch reads each session once, but a decision that ends the run is seen by the reports
// after it in the same batch: they are refused, not counted against a session that is over.
TEST_F(handlers, a_run_ended_by_a_batch_item_refuses_the_items_after_it) {
  guide_setup();
  policy.agent_default.cost_per_run = nanos{30'000'000};
  auto s = open_session();
  auto item = [&](std::string id) {
    return R"({"session_id": ")" + s + R"(", "event_id": ")" + id + R"(", "cost_usd": 0.02})";
  };
  auto batch = call(report_usage_batch, http::verb::post,
                    R"({"reports": [)" + item("r1") + "," + item("r2") + "," + item("r3") + "]}");
  ASSERT_EQ(batch.result(), http::status::ok) << batch.body();
  auto o = json(batch);
  auto& r = o.at("results").as_array();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r.at(0).at("status").as_string(), "recorded");
  EXPECT_EQ(r.at(1).at("status").as_string(), "recorded");  // crosses the run limit
  EXPECT_EQ(r.at(1).at("action").as_string(), "stop");
  EXPECT_EQ(r.at(2).at("status").as_string(), "rejected") << batch.body();
  EXPECT_EQ(r.at(2).at("reason").as_string(), "session_terminated");
  EXPECT_EQ(json(budget()).at("daily_spent_nanos").as_int64(), 40'000'000);
}

// Each report of a batch is read with the batch (one parse); one with a field twice is refused
// alone, as a 400, and the others are decided.
TEST_F(handlers, a_batch_item_with_a_field_twice_is_refused_alone) {
  guide_setup();
  auto s = open_session();
  auto batch = call(report_usage_batch, http::verb::post,
                    R"({"reports": [{"session_id": ")" + s +
                        R"(", "event_id": "d1", "cost_usd": 0.01, "cost_usd": 0.02},
                        {"session_id": ")" +
                        s + R"(", "event_id": "d2", "cost_usd": 0.01}]})");
  ASSERT_EQ(batch.result(), http::status::ok) << batch.body();
  auto o = json(batch);
  auto& r = o.at("results").as_array();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r.at(0).at("status").as_string(), "invalid");
  EXPECT_EQ(r.at(0).at("http_status").as_int64(), 400);
  EXPECT_NE(std::string(r.at(0).at("reason").as_string()).find("cost_usd appears twice"),
            std::string::npos)
      << batch.body();
  EXPECT_EQ(r.at(1).at("status").as_string(), "recorded");
  EXPECT_EQ(json(budget()).at("daily_spent_nanos").as_int64(), 10'000'000);
}

TEST_F(handlers, a_node_that_does_not_own_the_team_answers_503_with_retry_after) {
  guide_setup();
  ledger.set_access(team_access::catching_up);
  auto res = budget();
  EXPECT_EQ(res.result(), http::status::service_unavailable);
  EXPECT_EQ(res[http::field::retry_after], "1");
}

}  // namespace
}  // namespace tally::api
