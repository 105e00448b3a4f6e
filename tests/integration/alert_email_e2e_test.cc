// Alert email end to end: the real `tally serve` on a real broker sends each alert of a team to
// the config's email rules through a real SMTP server on loopback (aiosmtpd, STARTTLS with its
// own certificate, AUTH): one message per alert and rule, the rule's recipients, its min_level,
// nothing for a team that switched email off. Webhook targets on loopback are refused when the
// config does not allow them.
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "tests/support/eventually.h"
#include "tests/support/http_client.h"
#include "tests/support/http_scenario.h"
#include "tests/support/smtp_server.h"
#include "tests/support/tally_process.h"

namespace tally::test {
namespace {

using namespace std::chrono_literals;

const std::string admin_key = "tly_e2e_admin_key_0123456789abcdefghij";

double metric(http_client& c, const std::string& series) {
  auto r = c.get("/metrics");
  auto at = r.body.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::atof(r.body.c_str() + at + series.size() + 2);
}

TEST(AlertEmailEndToEnd, OneMessagePerAlertAndRuleOverStartTls) {
  http_scenario s("alert-email", admin_key);
  auto cert = make_self_signed_cert(s.dir);
  smtp_server smtp({.cert_file = cert.cert_file,
                    .key_file = cert.key_file,
                    .require_starttls = true,
                    .user = "tally",
                    .password = "s3cret"});
  ::setenv("TALLY_TEST_SMTP_PASSWORD", "s3cret", 1);
  s.o.config_path = s.dir + "/config.yaml";
  std::ofstream(s.o.config_path) << "alerts:\n"
                                    "  email:\n"
                                    "    relay: "
                                 << smtp.url()
                                 << "\n"
                                    "    starttls: true\n"
                                    "    ca_file: "
                                 << cert.cert_file
                                 << "\n"
                                    "    username: tally\n"
                                    "    password_env: TALLY_TEST_SMTP_PASSWORD\n"
                                    "    from: tally@example.com\n"
                                    "  notifications:\n"
                                    "    - type: in_app\n"
                                    "    - type: email\n"
                                    "      recipients: [ops@example.com, lead@example.com]\n"
                                    "    - type: email\n"
                                    "      min_level: critical\n"
                                    "      recipients: [pager@example.com]\n";
  auto p = s.serve();
  ASSERT_TRUE(p);
  http_client c(p->http_port(), admin_key);
  for (std::string t : {"acme", "beta"}) {
    ASSERT_EQ(c.post("/api/v1/teams", R"({"id": ")" + t + R"(", "timezone": "UTC"})").status, 201);
    ASSERT_EQ(c.post("/api/v1/teams/" + t + "/agents", R"({"id": "a-)" + t + R"("})").status, 201);
  }
  // beta switches email off; its alerts stay in the feed.
  ASSERT_EQ(
      c.request("PUT", "/api/v1/alerts/config",
                R"({"team_id": "beta", "notifications": [{"type": "email", "enabled": false}]})")
          .status,
      200);
  ASSERT_EQ(c.request("PUT", "/api/v1/limits",
                      R"({"projects": {"acme": {"limits": {"max_cost_per_day": 10}},
                                       "beta": {"limits": {"max_cost_per_day": 10}}}})")
                .status,
            200);
  // Loopback targets are refused: the config does not allow private ones.
  auto refused = c.post("/api/v1/webhooks", R"({"url": "http://127.0.0.1:9/hook"})");
  EXPECT_EQ(refused.status, 422) << refused.body;
  EXPECT_NE(refused.body.find("bad_url"), std::string::npos) << refused.body;
  EXPECT_EQ(c.get("/api/v1/webhooks").json().at("webhooks").as_array().size(), 0u);

  for (std::string t : {"beta", "acme"}) {
    auto ses = c.post("/api/v1/agents/a-" + t + "/sessions", R"({"model": "m"})");
    ASSERT_EQ(ses.status, 201);
    const std::string id(ses.json().as_object().at("session_id").as_string());
    ASSERT_EQ(c.post("/api/v1/sessions/" + id + "/usage", R"({"cost_usd": 12})").status, 200);
  }
  // acme: 4 alerts to the first rule, 2 (critical, exceeded) to the second; beta: none.
  auto mail = smtp.wait_for(6, 60s);
  ASSERT_EQ(mail.size(), 6u) << smtp.log() << p->log();
  // Every alert was read (beta's included) and made 6 deliveries, all of them sent.
  eventually([&] { return metric(c, "tally_alert_deliveries_total{state=\"delivered\"}") >= 6; },
             30s);
  EXPECT_EQ(metric(c, "tally_alerts_consumed_total"), 8);
  // The only node holds every alert partition, and its outbox published the 8 alerts.
  EXPECT_EQ(metric(c, "tally_alert_partitions_assigned"), s.o.partitions);
  EXPECT_EQ(metric(c, "tally_alerts_published_total"), 8);
  EXPECT_EQ(metric(c, "tally_outbox_reconciled"), 1);
  EXPECT_EQ(metric(c, "tally_alert_deliveries_total{state=\"created\"}"), 6);
  EXPECT_EQ(metric(c, "tally_alert_deliveries_total{state=\"delivered\"}"), 6);
  EXPECT_EQ(smtp.received().size(), 6u);

  std::map<std::string, std::set<std::string>> to_by_alert;  // alert id -> recipients
  for (auto& m : mail) {
    EXPECT_TRUE(m.tls);
    EXPECT_EQ(m.auth_user, "tally");
    EXPECT_EQ(m.mail_from, "tally@example.com");
    const std::string id = m.headers["X-Tally-Alert-Id"];
    EXPECT_TRUE(id.starts_with("thr:team:acme:day:")) << id;
    EXPECT_NE(m.headers["Subject"].find("acme"), std::string::npos) << m.headers["Subject"];
    EXPECT_NE(m.body.find(id), std::string::npos) << m.body;
    for (auto& r : m.rcpt_tos) EXPECT_TRUE(to_by_alert[id].insert(r).second) << id << " " << r;
  }
  ASSERT_EQ(to_by_alert.size(), 4u);
  for (auto& [id, to] : to_by_alert) {
    const bool critical = id.ends_with(":95") || id.ends_with(":100");
    std::set<std::string> want = {"ops@example.com", "lead@example.com"};
    if (critical) want.insert("pager@example.com");
    EXPECT_EQ(to, want) << id;
  }
  // beta's alerts are in the feed all the same.
  EXPECT_EQ(c.get("/api/v1/alerts?team_id=beta").json().at("count").as_int64(), 4);
  EXPECT_EQ(p->terminate(30s), 0) << p->log();
}

}  // namespace
}  // namespace tally::test
