// The auth matrix over every served route, through api_app::dispatch over an in-memory ledger
// with two teams: no credential is 401 (open routes excepted), a team-B credential on team A's
// resources is 403 (or sees none of A's data) and changes nothing, a reader on a write route is
// 403 and changes nothing, and team A's own admin gets a 2xx (so each request is well formed).
// The cases are keyed by the route table: a route without a case fails the test.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include <boost/json.hpp>

#include "api/app.h"
#include "api/live_stream.h"
#include "api/roles.h"
#include "api/webhooks_api.h"
#include "tests/support/kafka_env.h"
#include "tests/support/memory_ledger.h"

namespace tally::api {
namespace {

const time_ms now_ms = 1'795'428'000'000;  // 2026-11-23T10:00:00Z

const std::string hs_secret = "0123456789abcdef0123456789abcdef-test-only";

// What a team-B credential gets on a team-A request.
enum class cross {
  forbidden,  // 403
  filtered,   // 2xx with nothing of team A in it (listings scoped to the caller), or 403
  per_item,   // a batch: 200 with every item refused 403 (its answer names each item), or 403
};

// The ids a request may name: team A's seeded resources.
struct seeded {
  std::string session;      // team A's session
  std::string spare_key;    // the id of a team-A key nobody uses
  std::string reservation;  // a reservation held on team A's session
  std::string alert;        // an alert of team A (its 50 % day threshold)
  std::string webhook;      // team A's webhook subscription (with a delivery of the alert)
};

struct request_case {
  std::function<http_request(const seeded&)> build;  // a request on team A's resources
  cross b = cross::forbidden;
  bool write = true;          // a reader of team A is refused (403)
  bool team_admin_ok = true;  // team A's admin may do it (else only an org-wide admin)
};

http_request make(http::verb v, std::string target, std::string body = {}) {
  http_request req{v, target, 11};
  if (!body.empty() || v != http::verb::get) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
    req.prepare_payload();
  }
  return req;
}

request_case get_case(std::string target, cross b = cross::forbidden) {
  return {[target](const seeded&) { return make(http::verb::get, target); }, b, false};
}

request_case write_case(http::verb v, std::string target, std::string body) {
  return {[v, target, body](const seeded&) { return make(v, target, body); }};
}

// Every route of the API (api_routes() and the open routes of app.h), by "METHOD pattern".
std::map<std::string, std::vector<request_case>> all_cases() {
  using v = http::verb;
  std::map<std::string, std::vector<request_case>> c;
  auto teams = write_case(v::post, "/api/v1/teams", R"({"id": "gamma"})");
  teams.team_admin_ok = false;
  c["POST /api/v1/teams"] = {teams};
  c["GET /api/v1/teams"] = {get_case("/api/v1/teams", cross::filtered)};
  c["GET /api/v1/teams/{team_id}"] = {get_case("/api/v1/teams/acme")};
  c["POST /api/v1/teams/{team_id}/agents"] = {
      write_case(v::post, "/api/v1/teams/acme/agents", R"({"id": "eng-2"})")};
  c["GET /api/v1/teams/{team_id}/agents"] = {get_case("/api/v1/teams/acme/agents")};
  c["POST /api/v1/teams/{team_id}/tasks"] = {
      write_case(v::post, "/api/v1/teams/acme/tasks", R"({"id": "t-2", "title": "T"})")};
  c["GET /api/v1/teams/{team_id}/tasks"] = {get_case("/api/v1/teams/acme/tasks")};
  c["GET /api/v1/teams/{team_id}/costs"] = {get_case("/api/v1/teams/acme/costs")};
  c["PATCH /api/v1/settings/teams/{team_id}"] = {
      write_case(v::patch, "/api/v1/settings/teams/acme", R"({"daily_cost_limit_usd": 5})")};
  c["PATCH /api/v1/agents/{agent_id}"] = {
      write_case(v::patch, "/api/v1/agents/eng-1", R"({"daily_cost_limit_usd": 5})")};
  c["POST /api/v1/agents/{agent_id}/sessions"] = {
      write_case(v::post, "/api/v1/agents/eng-1/sessions", R"({"model": "m"})")};
  c["GET /api/v1/agents/{agent_id}/sessions"] = {get_case("/api/v1/agents/eng-1/sessions")};
  c["GET /api/v1/agents/{agent_id}/budget"] = {get_case("/api/v1/agents/eng-1/budget")};
  c["POST /api/v1/sessions/start"] = {
      write_case(v::post, "/api/v1/sessions/start", R"({"agent_id": "eng-1", "model": "m"})")};
  c["GET /api/v1/sessions/{session_id}"] = {
      {[](const seeded& s) { return make(v::get, "/api/v1/sessions/" + s.session); },
       cross::forbidden, false}};
  c["POST /api/v1/sessions/{session_id}/usage"] = {{[](const seeded& s) {
    return make(v::post, "/api/v1/sessions/" + s.session + "/usage",
                R"({"input_tokens": 10, "cost_usd": 0.01})");
  }}};
  c["POST /api/v1/sessions/{session_id}/end"] = {{[](const seeded& s) {
    return make(v::post, "/api/v1/sessions/" + s.session + "/end", R"({"status": "completed"})");
  }}};
  c["POST /api/v1/sessions/{session_id}/reservations"] = {{[](const seeded& s) {
    return make(v::post, "/api/v1/sessions/" + s.session + "/reservations",
                R"({"amount_usd": 0.01, "ttl_seconds": 60})");
  }}};
  c["GET /api/v1/sessions/{session_id}/reservations/{reservation_id}"] = {
      {[](const seeded& s) {
         return make(v::get, "/api/v1/sessions/" + s.session + "/reservations/" + s.reservation);
       },
       cross::forbidden, false}};
  c["DELETE /api/v1/sessions/{session_id}/reservations/{reservation_id}"] = {{[](const seeded& s) {
    return make(v::delete_, "/api/v1/sessions/" + s.session + "/reservations/" + s.reservation);
  }}};
  c["GET /api/v1/sessions"] = {get_case("/api/v1/sessions?team_id=acme"),
                               get_case("/api/v1/sessions?team_id=acme&status=ended")};
  c["GET /api/v1/insights"] = {get_case("/api/v1/insights?team_id=acme"),
                               get_case("/api/v1/insights?team_id=acme&include_dismissed=true")};
  // Team A's seeded insight (its five failed runs).
  c["POST /api/v1/insights/{insight_id}/dismiss"] = {
      write_case(v::post, "/api/v1/insights/failed_runs:eng-1/dismiss?team_id=acme", "")};
  c["GET /api/v1/alerts"] = {get_case("/api/v1/alerts?team_id=acme")};
  c["POST /api/v1/alerts/{alert_id}/ack"] = {
      {[](const seeded& s) { return make(v::post, "/api/v1/alerts/" + s.alert + "/ack"); }}};
  c["GET /api/v1/alerts/config"] = {get_case("/api/v1/alerts/config?team_id=acme")};
  c["PUT /api/v1/alerts/config"] = {write_case(
      v::put, "/api/v1/alerts/config", R"({"team_id": "acme", "thresholds": [{"percent": 90}]})")};
  c["POST /api/v1/usage:batch"] = {{[](const seeded& s) {
                                      return make(v::post, "/api/v1/usage:batch",
                                                  R"({"reports": [{"session_id": ")" + s.session +
                                                      R"(", "cost_usd": 0.01}, {"session_id": ")" +
                                                      s.session + R"(", "cost_usd": 0.02}]})");
                                    },
                                    cross::per_item}};
  c["GET /api/v1/usage"] = {get_case("/api/v1/usage?team_id=acme")};
  for (std::string r : {"summary", "by-agent", "by-project", "by-model", "daily"}) {
    c["GET /api/v1/usage/" + r] = {get_case("/api/v1/usage/" + r + "?team_id=acme")};
  }
  c["GET /api/v1/limits"] = {get_case("/api/v1/limits?team_id=acme")};
  c["PUT /api/v1/limits"] = {
      write_case(v::put, "/api/v1/limits",
                 R"({"limits": {"per_team": {"acme": {"max_cost_per_day": 5}}}})"),
      write_case(v::put, "/api/v1/limits",
                 R"({"limits": {"per_agent": {"eng-1": {"max_cost_per_day": 5}}}})"),
      write_case(v::put, "/api/v1/limits",
                 R"({"projects": {"acme": {"limits": {"max_cost_per_day": 5}}}})")};
  c["GET /api/v1/limits/status"] = {get_case("/api/v1/limits/status?team_id=acme")};
  // The live stream of team A: B is refused (403); a reader may follow it.
  c["GET /api/v1/stream"] = {get_case("/api/v1/stream?team_id=acme"),
                             get_case("/api/v1/stream?team_id=acme&types=usage,alert")};
  c["POST /api/v1/auth/keys"] = {
      write_case(v::post, "/api/v1/auth/keys", R"({"role": "reader", "team": "acme"})")};
  c["GET /api/v1/auth/keys"] = {get_case("/api/v1/auth/keys?team=acme", cross::filtered)};
  c["DELETE /api/v1/auth/keys/{key_id}"] = {
      {[](const seeded& s) { return make(v::delete_, "/api/v1/auth/keys/" + s.spare_key); }}};
  c["POST /api/v1/webhooks"] = {write_case(
      v::post, "/api/v1/webhooks", R"({"url": "http://127.0.0.1:9/h", "team_id": "acme"})")};
  c["GET /api/v1/webhooks"] = {get_case("/api/v1/webhooks?team_id=acme", cross::filtered)};
  c["GET /api/v1/webhooks/{webhook_id}"] = {
      {[](const seeded& s) { return make(v::get, "/api/v1/webhooks/" + s.webhook); },
       cross::forbidden, false}};
  c["PATCH /api/v1/webhooks/{webhook_id}"] = {{[](const seeded& s) {
    return make(v::patch, "/api/v1/webhooks/" + s.webhook, R"({"enabled": false})");
  }}};
  c["DELETE /api/v1/webhooks/{webhook_id}"] = {
      {[](const seeded& s) { return make(v::delete_, "/api/v1/webhooks/" + s.webhook); }}};
  c["GET /api/v1/webhooks/{webhook_id}/deliveries"] = {
      {[](const seeded& s) {
         return make(v::get, "/api/v1/webhooks/" + s.webhook + "/deliveries");
       },
       cross::forbidden, false}};
  c["POST /api/v1/webhooks/{webhook_id}/deliveries/{event_id}/redeliver"] = {{[](const seeded& s) {
    return make(v::post, "/api/v1/webhooks/" + s.webhook + "/deliveries/" + s.alert + "/redeliver");
  }}};
  // A token is the caller's own credential: B gets a token of B, a reader one of a reader.
  c["POST /api/v1/auth/token"] = {
      {[](const seeded&) { return make(v::post, "/api/v1/auth/token"); }, cross::filtered, false}};
  return c;
}

// The open routes, answered without a credential, and a target of each (the dashboard's files
// are those the world writes into its dashboard directory).
const std::map<std::string, std::string> open_routes = {
    {"GET /healthz", "/healthz"},
    {"GET /readyz", "/readyz"},
    {"GET /metrics", "/metrics"},
    {"GET /api/v1/openapi.yaml", "/api/v1/openapi.yaml"},
    {"GET /", "/"},
    {"GET /{file}", "/favicon.svg"},
    {"GET /assets/{file}", "/assets/index-3f9c1a.js"}};

std::string name_of(const route& r) {
  return std::string(http::to_string(r.method)) + " " + r.pattern;
}

// One node's API over an in-memory ledger, seeded with teams acme (A) and beta (B).
class world {
 public:
  world() {
    deps_.ledger = &ledger;
    deps_.policy = &policy_;
    deps_.pricing = &pricing_;
    deps_.clock = [] { return now_ms; };
    deps_.keys = &keys;
    deps_.jwt = &jwt_config_;
    deps_.live = &hub_;
    deps_.publish_key = [this](const api_key_record&, std::function<void(bool)> done) {
      ++published;
      done(true);
    };
    deliveries_ = std::make_unique<delivery_store>(dir_.path + "/deliveries");
    webhooks_.registry = &webhooks;
    webhooks_.allow_private = true;
    webhooks_.deliveries = deliveries_.get();
    webhooks_.publish = [this](const webhook_subscription&, std::function<void(bool)> done) {
      done(true);
    };
    webhooks_.redeliver = [this](const std::string& t, const std::string& e) {
      if (!deliveries_->get(t, e)) return false;
      ++redeliveries;
      return true;
    };
    deps_.webhooks = &webhooks_;
    std::filesystem::create_directories(dir_.path + "/dashboard/assets");
    for (std::string f : {"index.html", "favicon.svg", "assets/index-3f9c1a.js"}) {
      std::ofstream(dir_.path + "/dashboard/" + f) << "x";
    }
    deps_.dashboard_dir = dir_.path + "/dashboard";
    app_ = std::make_unique<api_app>(deps_, auth_deps{&keys, &jwt_, nullptr}, metrics_);
    add_key("org", role::admin, "");
    for (std::string t : {"acme", "beta"}) {
      for (auto r : {role::admin, role::agent, role::reader}) add_key(t, r, t);
    }
    spare_ = add_key("spare", role::agent, "acme");
    seed();
  }

  const api_app& app() const { return *app_; }
  const seeded& ids() const { return ids_; }

  // The secret of a seeded credential: "org", or (team, role).
  std::string secret(const std::string& team, role r) const {
    return secrets_.at(team + "/" + std::string(to_string(r)));
  }
  std::string org_secret() const {
    return secrets_.at("org/" + std::string(to_string(role::admin)));
  }

  // Dispatches, delivers what the handler appended, and returns the answer (a stream's head,
  // with what its writer got as the body; the stream is then closed).
  http_response send(http_request req, const std::string& secret) {
    if (!secret.empty()) req.set("X-API-Key", secret);
    std::optional<http_response> out;
    app_->dispatch(
        std::move(req), [&](http_response res) { out = std::move(res); },
        [&](stream_start start) {
          auto sink = std::make_shared<capture>();
          if (start.on_open) start.on_open(sink);
          hub_.sync();
          if (start.on_close) start.on_close();
          out = std::move(start.head);
          out->body() = sink->got;
        });
    ledger.deliver();
    EXPECT_TRUE(out) << "no answer";
    return out ? std::move(*out) : http_response{};
  }

  // Everything a request could change: the ledger's events and the key records.
  std::string snapshot() const {
    std::string s = std::to_string(ledger.appended().size()) + " events, " +
                    std::to_string(published) + " keys published;";
    for (auto& k : keys.list()) s += " " + k.id + (k.revoked ? ":revoked" : "");
    s += "; webhooks";
    for (auto& h : webhooks.list()) s += " " + h.id + ":" + std::to_string(h.version);
    s += "; " + std::to_string(redeliveries) + " redeliveries";
    return s;
  }

  testing::memory_ledger ledger;
  key_registry keys;
  webhook_registry webhooks;
  int published = 0;
  int redeliveries = 0;

 private:
  // A stream's writer that keeps what it is given.
  struct capture final : stream_writer {
    std::string got;
    bool write(std::string chunk) override {
      got += chunk;
      return true;
    }
    void close() override {}
    bool is_open() const override { return true; }
  };

  std::string add_key(const std::string& name, role r, const std::string& team) {
    auto secret = generate_key_secret();
    auto rec = make_key_record(secret, r, team, name, now_ms);
    EXPECT_TRUE(keys.apply(rec));
    secrets_[(name == "spare" ? "spare" : (team.empty() ? "org" : team)) + "/" +
             std::string(to_string(r))] = secret;
    return rec.id;
  }

  void seed() {
    const std::string org = org_secret();
    auto ok = [&](http_request req) {
      auto res = send(std::move(req), org);
      EXPECT_LT(res.result_int(), 300) << res.body();
      return res;
    };
    for (std::string t : {"acme", "beta"}) {
      ok(make(http::verb::post, "/api/v1/teams", R"({"id": ")" + t + R"("})"));
    }
    ok(make(http::verb::post, "/api/v1/teams/acme/agents", R"({"id": "eng-1"})"));
    ok(make(http::verb::post, "/api/v1/teams/beta/agents", R"({"id": "b-1"})"));
    ok(make(http::verb::post, "/api/v1/teams/acme/tasks", R"({"id": "t-1", "title": "T"})"));
    auto s = ok(make(http::verb::post, "/api/v1/agents/eng-1/sessions", R"({"model": "m"})"));
    ids_.session = std::string(boost::json::parse(s.body()).at("session_id").as_string());
    // A $1 daily cap, then $0.50 spent: team A's 50 % alert.
    ok(make(http::verb::patch, "/api/v1/settings/teams/acme", R"({"daily_cost_limit_usd": 1})"));
    ok(make(http::verb::post, "/api/v1/sessions/" + ids_.session + "/usage",
            R"({"input_tokens": 5, "cost_usd": 0.5})"));
    auto r = ok(make(http::verb::post, "/api/v1/sessions/" + ids_.session + "/reservations",
                     R"({"amount_usd": 0.01, "ttl_seconds": 3600})"));
    ids_.reservation = std::string(boost::json::parse(r.body()).at("reservation_id").as_string());
    auto a = ok(make(http::verb::get, "/api/v1/alerts?team_id=acme"));
    auto alerts = boost::json::parse(a.body()).at("alerts").as_array();
    EXPECT_FALSE(alerts.empty()) << a.body();
    if (!alerts.empty()) ids_.alert = std::string(alerts.at(0).at("id").as_string());
    // Five failed runs of eng-1: team A's failed_runs insight.
    for (int i = 0; i < 5; ++i) {
      auto f = ok(make(http::verb::post, "/api/v1/agents/eng-1/sessions", R"({"model": "m"})"));
      const std::string sid(boost::json::parse(f.body()).at("session_id").as_string());
      ok(make(http::verb::post, "/api/v1/sessions/" + sid + "/usage",
              R"({"input_tokens": 5, "cost_usd": 0.01})"));
      ok(make(http::verb::post, "/api/v1/sessions/" + sid + "/end", R"({"status": "failed"})"));
    }
    ids_.spare_key = spare_;
    auto h = ok(make(http::verb::post, "/api/v1/webhooks",
                     R"({"url": "http://127.0.0.1:9/hook", "team_id": "acme"})"));
    ids_.webhook = std::string(boost::json::parse(h.body()).at("id").as_string());
    deliveries_->add_alert(ids_.alert, "budget_threshold_crossed", "{}",
                           {{ids_.webhook, "webhook"}}, -1, 0, now_ms);
  }

  limit_policy policy_;
  pricing_table pricing_;
  jwt_config jwt_config_ = [] {
    jwt_config c;
    c.hs256_secret = hs_secret;
    return c;
  }();
  jwt_verifier jwt_{jwt_config_};
  metrics_registry metrics_;
  struct scratch_dir {
    std::string path = tally::test::make_temp_dir("tally-auth-matrix");
    ~scratch_dir() { std::filesystem::remove_all(path); }
  } dir_;
  std::unique_ptr<delivery_store> deliveries_;
  webhooks_api webhooks_;
  live_hub hub_{live_hub_options{.first_seq = 1}};
  api_deps deps_;
  std::unique_ptr<api_app> app_;
  std::map<std::string, std::string> secrets_;
  std::string spare_;
  seeded ids_;
};

bool is_problem(const http_response& res) {
  if (res[http::field::content_type] != "application/problem+json") return false;
  auto v = boost::json::parse(res.body());
  return v.is_object() && v.as_object().at("status").as_int64() == res.result_int();
}

TEST(auth_matrix, every_route_has_a_case) {
  world w;
  const auto cases = all_cases();
  std::set<std::string> served;
  for (const route& r : w.app().routes().routes()) {
    served.insert(name_of(r));
    EXPECT_TRUE(cases.contains(name_of(r)) || open_routes.contains(name_of(r)))
        << name_of(r) << " has no auth-matrix case: add one to all_cases()";
    EXPECT_EQ(r.meta.open, open_routes.contains(name_of(r))) << name_of(r);
  }
  for (auto& [name, _] : cases) EXPECT_TRUE(served.contains(name)) << name << " is not served";
}

TEST(auth_matrix, without_a_credential_every_api_route_is_401) {
  world w;
  const auto cases = all_cases();
  for (const route& r : w.app().routes().routes()) {
    const std::string name = name_of(r);
    if (open_routes.contains(name)) {
      auto res = w.send(http_request{r.method, open_routes.at(name), 11}, "");
      EXPECT_EQ(res.result_int(), 200) << name;
      continue;
    }
    if (!cases.contains(name)) continue;  // every_route_has_a_case fails
    for (auto& c : cases.at(name)) {
      const std::string before = w.snapshot();
      auto req = c.build(w.ids());
      auto res = w.send(req, "");
      EXPECT_EQ(res.result(), http::status::unauthorized) << name << ": " << res.body();
      EXPECT_TRUE(is_problem(res)) << name << ": " << res.body();
      req.set("X-API-Key", "tly_not_a_key");
      res = w.send(req, "");
      EXPECT_EQ(res.result(), http::status::unauthorized) << name << ": " << res.body();
      EXPECT_EQ(w.snapshot(), before) << name;
    }
  }
}

TEST(auth_matrix, a_team_b_credential_never_reads_or_changes_team_a) {
  for (auto& [name, list] : all_cases()) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto& c = list[i];
      for (auto r : {role::admin, role::agent, role::reader}) {
        world w;  // fresh: a leak in one case must not hide another
        const std::string before = w.snapshot();
        auto res = w.send(c.build(w.ids()), w.secret("beta", r));
        const std::string where =
            name + " #" + std::to_string(i) + " as beta " + std::string(to_string(r));
        if (c.b == cross::forbidden) {
          EXPECT_EQ(res.result(), http::status::forbidden) << where << ": " << res.body();
          EXPECT_TRUE(is_problem(res)) << where;
          EXPECT_EQ(res.body().find("acme"), std::string::npos) << where << ": " << res.body();
        } else if (c.b == cross::per_item && res.result() == http::status::forbidden) {
          EXPECT_TRUE(is_problem(res)) << where;  // refused whole (a reader writes nowhere)
        } else if (c.b == cross::per_item) {
          ASSERT_EQ(res.result(), http::status::ok) << where << ": " << res.body();
          auto results = boost::json::parse(res.body()).at("results").as_array();
          EXPECT_FALSE(results.empty());
          for (auto& item : results) EXPECT_EQ(item.at("http_status"), 403) << where;
        } else {
          if (res.result() == http::status::forbidden) {
            EXPECT_TRUE(is_problem(res)) << where;
          } else {
            EXPECT_LT(res.result_int(), 300) << where << ": " << res.body();
          }
          EXPECT_EQ(res.body().find("acme"), std::string::npos) << where << ": " << res.body();
          EXPECT_EQ(res.body().find("eng-1"), std::string::npos) << where << ": " << res.body();
        }
        if (c.write || c.b == cross::forbidden) {
          EXPECT_EQ(w.snapshot(), before) << where;
        }
      }
    }
  }
}

TEST(auth_matrix, a_reader_is_refused_every_write_route) {
  for (auto& [name, list] : all_cases()) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (!list[i].write) continue;
      world w;
      const std::string before = w.snapshot();
      auto res = w.send(list[i].build(w.ids()), w.secret("acme", role::reader));
      EXPECT_EQ(res.result(), http::status::forbidden) << name << " #" << i << ": " << res.body();
      EXPECT_TRUE(is_problem(res)) << name;
      EXPECT_EQ(w.snapshot(), before) << name << " #" << i;
    }
  }
}

TEST(auth_matrix, team_a_may_do_each_request_so_the_refusals_above_are_about_the_caller) {
  for (auto& [name, list] : all_cases()) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      world w;
      auto& c = list[i];
      const std::string secret = c.team_admin_ok ? w.secret("acme", role::admin) : w.org_secret();
      auto res = w.send(c.build(w.ids()), secret);
      EXPECT_LT(res.result_int(), 300) << name << " #" << i << ": " << res.body();
      if (c.b == cross::filtered && name != "POST /api/v1/auth/token") {
        EXPECT_NE(res.body().find("acme"), std::string::npos) << name << ": " << res.body();
      }
    }
  }
}

}  // namespace
}  // namespace tally::api
