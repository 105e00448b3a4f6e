// config.yaml loading: the seed shapes, exact money, and errors that name the key and line.
#include "schemas/config.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace tally {
namespace {

constexpr std::int64_t feb_1_2026_ms = 1'769'904'000'000;  // 2026-02-01T00:00:00Z
constexpr std::int64_t jan_1_2026_ms = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

tally_config load_ok(std::string_view yaml) {
  auto cfg = load_config_text(yaml);
  EXPECT_TRUE(cfg) << (cfg ? "" : cfg.error().message);
  return cfg ? *cfg : tally_config{};
}

std::string load_error(std::string_view yaml) {
  auto cfg = load_config_text(yaml);
  EXPECT_FALSE(cfg) << yaml;
  return cfg ? std::string() : cfg.error().message;
}

// A config with one enabled webhook rule signed with `secret`.
std::string fmt_secret(std::string_view secret) {
  return "alerts: {notifications: [{type: webhook, url: \"https://h.example.com/x\", secret: \"" +
         std::string(secret) + "\"}]}";
}

TEST(config, empty_document_gives_defaults) {
  tally_config cfg = load_ok("");
  EXPECT_TRUE(cfg.pricing.empty());
  EXPECT_TRUE(cfg.limits.global.empty());
  EXPECT_TRUE(cfg.teams.empty());
  EXPECT_EQ(cfg.alerts.thresholds, default_alert_thresholds());
  ASSERT_EQ(cfg.alerts.thresholds.size(), 4u);
  EXPECT_EQ(cfg.alerts.thresholds[3].percent, 100);
  EXPECT_EQ(cfg.alerts.thresholds[3].level, "exceeded");
  ASSERT_EQ(cfg.alerts.notifications.size(), 1u);
  EXPECT_EQ(cfg.alerts.notifications[0].type, "in_app");
  EXPECT_EQ(cfg.retention.detailed_days, 90);
  EXPECT_EQ(cfg.retention.daily_days, 365);
  EXPECT_EQ(cfg.retention.monthly_days, -1);
  EXPECT_EQ(cfg.retention.aggregation_hour, 2);
  EXPECT_EQ(cfg.late_grace_ms, 7 * 86'400'000LL);
  EXPECT_EQ(cfg.future_skew_ms, 300'000);
}

TEST(config, seed_pricing_shape) {
  tally_config cfg = load_ok(R"(
pricing:
  models:
    haiku:
      input_per_million: 0.25
      output_per_million: 1.25
    sonnet:
      input_per_million: 3.00
      output_per_million: 15.00
      cache_read_per_million: 0.3
    opus:
      input_per_million: 15.00
      output_per_million: 75.00
  aliases:
    "claude-sonnet-4*": sonnet
    "claude-opus-4*": opus
  last_updated: "2026-02-01"
)");
  ASSERT_EQ(cfg.pricing.size(), 1u);
  const price_version& v = cfg.pricing[0];
  EXPECT_EQ(v.effective_from_ms, feb_1_2026_ms);
  EXPECT_EQ(v.id, derive_price_version_id(v));  // no id given: derived from content
  // $0.25 -> 250'000'000 nanos per million; cache defaults 1.25x and 0.1x.
  EXPECT_EQ(v.models.at("haiku"), (model_price{nanos{250'000'000}, nanos{1'250'000'000},
                                               nanos{312'500'000}, nanos{25'000'000}}));
  EXPECT_EQ(v.models.at("sonnet").cache_read_per_million, nanos{300'000'000});
  EXPECT_EQ(v.models.at("sonnet").cache_write_per_million, nanos{3'750'000'000});
  ASSERT_EQ(v.aliases.size(), 2u);
  EXPECT_EQ(v.aliases[0], (std::pair<std::string, std::string>{"claude-sonnet-4*", "sonnet"}));
  EXPECT_EQ(v.aliases[1].first, "claude-opus-4*");

  // Loading the same text again publishes the same version id.
  EXPECT_EQ(load_ok(R"(
pricing:
  models: {haiku: {input_per_million: 0.25, output_per_million: 1.25}}
)")
                .pricing[0]
                .id,
            load_ok(R"(
pricing:
  models:
    haiku: {output_per_million: 1.250, input_per_million: 0.25}
)")
                .pricing[0]
                .id);

  // And the priced cost through a table built from it: 2500 in + 800 out at $3/$15.
  pricing_table table;
  for (const auto& version : cfg.pricing) table.add(version);
  auto p = table.price("claude-sonnet-4-20250514", {.input = 2500, .output = 800}, feb_1_2026_ms);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->cost, nanos{19'500'000});
}

TEST(config, pricing_versions_list) {
  tally_config cfg = load_ok(R"(
pricing:
  versions:
    - id: later
      effective_from: "2026-03-01T09:30:00.250+02:00"
      models: {sonnet: {input_per_million: 4, output_per_million: 20}}
    - effective_from: "2026-01-01"
      models: {sonnet: {input_per_million: 3, output_per_million: 15}}
      aliases:
        - {glob: "claude-sonnet-4*", model: sonnet}
)");
  ASSERT_EQ(cfg.pricing.size(), 2u);
  // Sorted by effective_from.
  EXPECT_EQ(cfg.pricing[0].effective_from_ms, jan_1_2026_ms);
  EXPECT_EQ(cfg.pricing[0].id.substr(0, 2), "p-");
  EXPECT_EQ(cfg.pricing[0].aliases.size(), 1u);
  EXPECT_EQ(cfg.pricing[1].id, "later");
  EXPECT_EQ(cfg.pricing[1].effective_from_ms, 1'772'350'200'250);  // 07:30:00.250Z
  EXPECT_EQ(cfg.pricing[1].models.at("sonnet").input_per_million, nanos{4'000'000'000});
}

TEST(config, pricing_errors_name_the_key_and_line) {
  // Line numbers count from 1 at the first line of the text (here, the empty line after R"().
  std::string e = load_error(R"(
pricing:
  models:
    sonnet:
      input_per_million: 3
      ouput_per_million: 15
)");
  EXPECT_NE(e.find("line 6"), std::string::npos) << e;
  EXPECT_NE(e.find("pricing.models.sonnet.ouput_per_million"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key"), std::string::npos) << e;

  e = load_error("pricing:\n  models:\n    sonnet: {input_per_million: 3}\n");
  EXPECT_NE(e.find("output_per_million is required"), std::string::npos) << e;
  e = load_error(
      "pricing:\n  models:\n    sonnet: {input_per_million: -3, output_per_million: 1}\n");
  EXPECT_NE(e.find("negative"), std::string::npos) << e;
  e = load_error("pricing:\n  models:\n    s: {input_per_million: 3usd, output_per_million: 1}\n");
  EXPECT_NE(e.find("'3usd' is not a decimal amount"), std::string::npos) << e;
  e = load_error(
      "pricing:\n  models: {s: {input_per_million: 1, output_per_million: 1}}\n"
      "  aliases: {\"gpt-*\": gpt}\n");
  EXPECT_NE(e.find("alias target 'gpt'"), std::string::npos) << e;
  e = load_error("pricing:\n  last_updated: \"2026-02-30\"\n  models: {}\n");
  EXPECT_NE(e.find("2026-02-30"), std::string::npos) << e;
  e = load_error("pricing:\n  last_updated: \"2026-02-01\"\n");
  EXPECT_NE(e.find("models is required"), std::string::npos) << e;
  e = load_error(
      "pricing:\n  versions: []\n  models: {s: {input_per_million: 1, output_per_million: 1}}\n");
  EXPECT_NE(e.find("pricing.models"), std::string::npos) << e;
  e = load_error(R"(
pricing:
  versions:
    - {effective_from: "2026-01-01", models: {s: {input_per_million: 1, output_per_million: 1}}}
    - {effective_from: "2026-01-01", models: {s: {input_per_million: 2, output_per_million: 1}}}
)");
  EXPECT_NE(e.find("same effective_from"), std::string::npos) << e;
}

TEST(config, seed_limits_and_project_override) {
  tally_config cfg = load_ok(R"(
limits:
  global:
    max_tokens_per_day: 1000000
    max_cost_per_day: 50.00
    max_cost_per_month: 500.00
    max_concurrent_agents: 5
  per_project:
    default:
      max_cost_per_day: 20.00
      max_cost_per_month: 200.00
  per_agent:
    default:
      max_tokens_per_run: 100000
      max_cost_per_run: 5.00
    eng-1:
      monthly_budget_cents: 5000

projects:
  my-arpg:
    limits:
      max_cost_per_day: 30.00
      max_cost_per_month: 300.00
)");
  const auto& l = cfg.limits;
  EXPECT_EQ(l.global.max_tokens_per_day, 1'000'000);
  EXPECT_EQ(l.global.max_cost_per_day, nanos{50'000'000'000});
  EXPECT_EQ(l.global.max_cost_per_month, nanos{500'000'000'000});
  EXPECT_EQ(l.global.max_concurrent_agents, 5);
  EXPECT_FALSE(l.global.max_cost_per_run.has_value());
  EXPECT_EQ(l.team_default.max_cost_per_day, nanos{20'000'000'000});
  EXPECT_EQ(l.team_default.max_cost_per_month, nanos{200'000'000'000});
  EXPECT_EQ(l.agent_default.max_tokens_per_run, 100'000);
  EXPECT_EQ(l.agent_default.max_cost_per_run, nanos{5'000'000'000});
  ASSERT_TRUE(l.agents.contains("eng-1"));
  EXPECT_EQ(l.agents.at("eng-1").max_cost_per_month, nanos{50'000'000'000});  // 5000 cents
  ASSERT_TRUE(cfg.teams.contains("my-arpg"));
  const team_config& team = cfg.teams.at("my-arpg");
  EXPECT_EQ(team.name, "my-arpg");
  EXPECT_EQ(team.timezone, "UTC");
  EXPECT_EQ(team.limits.max_cost_per_day, nanos{30'000'000'000});
  EXPECT_EQ(team.limits.max_cost_per_month, nanos{300'000'000'000});
}

TEST(config, money_is_exact) {
  tally_config cfg = load_ok(R"(
limits:
  global:
    max_cost_per_day: 0.1
    max_cost_per_month: "1e2"
    max_cost_per_run: 0.000000001
)");
  // 0.1 as a double is 0.1000000000000000055...; the text gives exactly 100'000'000 nanos.
  EXPECT_EQ(cfg.limits.global.max_cost_per_day, nanos{100'000'000});
  EXPECT_EQ(cfg.limits.global.max_cost_per_month, nanos{100'000'000'000});
  EXPECT_EQ(cfg.limits.global.max_cost_per_run, nanos{1});
}

TEST(config, typo_in_a_limit_is_refused_with_key_and_line) {
  const std::string e = load_error(R"(
limits:
  global:
    max_cost_per_day: 50
    max_cost_per_dya: 20
)");
  EXPECT_NE(e.find("max_cost_per_dya"), std::string::npos) << e;
  EXPECT_NE(e.find("limits.global.max_cost_per_dya"), std::string::npos) << e;
  EXPECT_NE(e.find("line 5"), std::string::npos) << e;
  auto r = load_config_text("limits:\n  global:\n    max_cost_per_dya: 20\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().line, 3);

  EXPECT_NE(load_error("limits:\n  globl: {max_cost_per_day: 1}\n").find("limits.globl"),
            std::string::npos);
  EXPECT_NE(load_error("limits:\n  max_cost_per_day: 1\n").find("limits.max_cost_per_day"),
            std::string::npos);
  EXPECT_NE(load_error("projects:\n  a:\n    limits: {max_cost_per_dy: 1}\n")
                .find("projects.a.limits.max_cost_per_dy"),
            std::string::npos);
  EXPECT_NE(load_error("projects:\n  a:\n    timezon: UTC\n").find("projects.a.timezon"),
            std::string::npos);
}

TEST(config, limit_values_are_checked) {
  EXPECT_NE(load_error("limits: {global: {max_cost_per_day: -1}}").find("negative"),
            std::string::npos);
  EXPECT_NE(load_error("limits: {global: {max_tokens_per_day: 1.5}}").find("not an integer"),
            std::string::npos);
  EXPECT_NE(load_error("limits: {global: {max_cost_per_day: ten}}").find("'ten'"),
            std::string::npos);
  EXPECT_NE(load_error("limits: {global: {max_cost_per_day: [1]}}").find("decimal amount"),
            std::string::npos);
  // Two spellings of one limit: which one was meant?
  EXPECT_NE(load_error("limits: {per_agent: {a: {monthly_budget_cents: 5, max_cost_per_month: 1}}}")
                .find("max_cost_per_month is already set"),
            std::string::npos);
  // A duplicate key: yaml-cpp would silently keep the first.
  EXPECT_NE(load_error("limits:\n  global:\n    max_cost_per_day: 1\n    max_cost_per_day: 2\n")
                .find("duplicate key"),
            std::string::npos);
  // null means "no limit" explicitly.
  tally_config cfg = load_ok("limits: {global: {max_cost_per_day: ~}}");
  EXPECT_FALSE(cfg.limits.global.max_cost_per_day.has_value());
}

TEST(config, team_synonyms_and_settings) {
  tally_config cfg = load_ok(R"(
teams:
  t1:
    name: "Team One"
    timezone: Europe/Berlin
    limits: {daily_cost_limit_usd: 10.00, monthly_cost_limit_usd: 100}
workspaces:
  w1: {}
limits:
  per_workspace:
    default: {max_cost_per_day: 1}
    w2: {max_cost_per_day: 2}
)");
  ASSERT_EQ(cfg.teams.size(), 3u);
  EXPECT_EQ(cfg.teams.at("t1").name, "Team One");
  EXPECT_EQ(cfg.teams.at("t1").timezone, "Europe/Berlin");
  EXPECT_EQ(cfg.teams.at("t1").limits.max_cost_per_day, nanos{10'000'000'000});
  EXPECT_EQ(cfg.teams.at("t1").limits.max_cost_per_month, nanos{100'000'000'000});
  EXPECT_TRUE(cfg.teams.at("w1").limits.empty());
  EXPECT_EQ(cfg.limits.team_default.max_cost_per_day, nanos{1'000'000'000});
  EXPECT_EQ(cfg.teams.at("w2").limits.max_cost_per_day, nanos{2'000'000'000});

  EXPECT_NE(load_error("teams: {a: {timezone: Mars/Olympus_Mons}}").find("Mars/Olympus_Mons"),
            std::string::npos);
  EXPECT_NE(load_error("teams: {a: {}}\nprojects: {a: {}}").find("defined twice"),
            std::string::npos);
  EXPECT_NE(load_error("projects: {a: {limits: {max_cost_per_day: 1}}}\n"
                       "limits: {per_project: {a: {max_cost_per_day: 2}}}")
                .find("already given"),
            std::string::npos);
  EXPECT_NE(load_error("limits: {per_project: {default: {}}, per_team: {default: {}}}")
                .find("one of per_project"),
            std::string::npos);
}

TEST(config, unknown_top_level_keys_are_ignored) {
  tally_config cfg = load_ok(R"(
server: {port: 8000}
future_feature: [1, 2, 3]
limits: {global: {max_cost_per_day: 5}}
)");
  EXPECT_EQ(cfg.limits.global.max_cost_per_day, nanos{5'000'000'000});
}

TEST(config, alerts) {
  tally_config cfg = load_ok(R"(
alerts:
  thresholds:
    - percent: 95
      level: critical
      message: "95% of daily budget used - approaching limit"
    - percent: 50
      level: info
      message: "50% of daily budget used"
    - percent: 80
  notifications:
    - type: in_app
    - type: email
      enabled: true
      recipients: [admin@example.com]
    - type: webhook
      enabled: false
      url: https://hooks.example.com/alerts
)");
  ASSERT_EQ(cfg.alerts.thresholds.size(), 3u);      // replaces the defaults
  EXPECT_EQ(cfg.alerts.thresholds[0].percent, 50);  // sorted
  EXPECT_EQ(cfg.alerts.thresholds[1].percent, 80);
  EXPECT_EQ(cfg.alerts.thresholds[1].level, "warning");  // defaulted from the percent
  EXPECT_EQ(cfg.alerts.thresholds[1].message, "80% of budget used");
  EXPECT_EQ(cfg.alerts.thresholds[2].message, "95% of daily budget used - approaching limit");
  ASSERT_EQ(cfg.alerts.notifications.size(), 3u);
  EXPECT_EQ(cfg.alerts.notifications[1].recipients, std::vector<std::string>{"admin@example.com"});
  EXPECT_FALSE(cfg.alerts.notifications[2].enabled);
  EXPECT_EQ(cfg.alerts.notifications[2].url, "https://hooks.example.com/alerts");

  EXPECT_NE(load_error("alerts: {thresholds: [{percent: 50, level: loud}]}").find("level"),
            std::string::npos);
  EXPECT_NE(load_error("alerts: {thresholds: [{percent: 50}, {percent: 50}]}").find("duplicate"),
            std::string::npos);
  EXPECT_NE(load_error("alerts: {thresholds: [{percnt: 50}]}").find("alerts.thresholds[0].percnt"),
            std::string::npos);
  EXPECT_NE(load_error("alerts: {notifications: [{type: email}]}").find("recipients"),
            std::string::npos);
  EXPECT_NE(load_error("alerts: {notifications: [{type: pager}]}").find("in_app"),
            std::string::npos);
}

constexpr const char* good_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";  // 24 bytes

TEST(config, notification_rules_filters_and_secret) {
  tally_config cfg = load_ok(R"(
alerts:
  notifications:
    - type: email
      recipients: [oncall@example.com]
      min_level: critical
      team_id: acme
    - type: webhook
      url: https://hooks.example.com/tally
      secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
      min_level: warning
    - type: webhook
      enabled: false
      url: https://old.example.com/hook
)");
  ASSERT_EQ(cfg.alerts.notifications.size(), 3u);
  const auto& mail = cfg.alerts.notifications[0];
  EXPECT_EQ(mail.min_level, "critical");
  EXPECT_EQ(mail.team_id, "acme");
  EXPECT_TRUE(mail.is_rule());
  const auto& hook = cfg.alerts.notifications[1];
  EXPECT_EQ(hook.secret, good_secret);
  EXPECT_EQ(hook.min_level, "warning");
  EXPECT_TRUE(hook.team_id.empty());
  // A disabled rule (it has a url) needs no secret and does not switch the channel off.
  EXPECT_TRUE(cfg.alerts.notifications[2].secret.empty());
  EXPECT_TRUE(channel_enabled(cfg.alerts.notifications, "webhook"));
  EXPECT_TRUE(channel_enabled(cfg.alerts.notifications, "email"));

  // Filters: level at least min_level, team equal when given.
  EXPECT_TRUE(rule_matches(mail, "critical", "acme"));
  EXPECT_TRUE(rule_matches(mail, "exceeded", "acme"));
  EXPECT_FALSE(rule_matches(mail, "warning", "acme"));
  EXPECT_FALSE(rule_matches(mail, "exceeded", "other"));
  EXPECT_TRUE(rule_matches(hook, "warning", "anyone"));
  EXPECT_FALSE(rule_matches(hook, "info", "anyone"));
  EXPECT_FALSE(rule_matches(cfg.alerts.notifications[2], "exceeded", "acme"));           // disabled
  EXPECT_FALSE(rule_matches({.type = "webhook", .enabled = true}, "exceeded", "acme"));  // switch
  EXPECT_TRUE(rule_matches({.type = "email", .recipients = {"a@b.c"}}, "info", "acme"));
  EXPECT_EQ(alert_level_rank("info"), 1);
  EXPECT_EQ(alert_level_rank("exceeded"), 4);
  EXPECT_EQ(alert_level_rank("loud"), 0);
}

TEST(config, channel_switches_leave_rules_out) {
  tally_config cfg = load_ok(R"(
alerts:
  notifications:
    - type: webhook
      enabled: false
      url: https://hooks.example.com/alerts
    - type: email
      enabled: false
    - type: email
      recipients: [a@example.com]
)");
  // No in_app entry: in_app stays on. The disabled webhook RULE is not a switch.
  EXPECT_EQ(channel_switches(cfg.alerts.notifications),
            (std::vector<alert_channel>{{"in_app", true}, {"email", false}}));
  EXPECT_FALSE(channel_enabled(cfg.alerts.notifications, "email"));
  EXPECT_TRUE(channel_enabled(cfg.alerts.notifications, "webhook"));
  EXPECT_TRUE(channel_enabled(cfg.alerts.notifications, "in_app"));

  tally_config off = load_ok(R"(
alerts:
  notifications:
    - type: in_app
      enabled: false
    - type: webhook
      enabled: false
)");
  EXPECT_EQ(channel_switches(off.alerts.notifications),
            (std::vector<alert_channel>{{"in_app", false}, {"webhook", false}}));
  EXPECT_FALSE(channel_enabled(off.alerts.notifications, "webhook"));
  // The defaults: in_app only.
  EXPECT_EQ(channel_switches(tally_config{}.alerts.notifications),
            (std::vector<alert_channel>{{"in_app", true}}));
}

TEST(config, notification_errors_name_the_key_and_line) {
  EXPECT_EQ(load_error(R"(alerts:
  notifications:
    - type: email
      recipients: [a@example.com]
      min_level: loud
)"),
            "line 5: alerts.notifications[0].min_level: expected info, warning, critical or "
            "exceeded");
  EXPECT_EQ(load_error(R"(alerts:
  notifications:
    - type: webhook
      url: https://h.example.com/x
)"),
            "line 3: alerts.notifications[0]: an enabled webhook notification needs a secret "
            "(whsec_ + base64 of at least 16 random bytes, e.g. \"whsec_$(openssl rand -base64 "
            "32)\")");
  EXPECT_EQ(load_error(R"(alerts:
  notifications:
    - type: webhook
      url: https://h.example.com/x
      secret: sk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
)"),
            "line 5: alerts.notifications[0].secret: must start with whsec_");
  auto secret_error = [](std::string_view secret) { return load_error(fmt_secret(secret)); };
  // 16 bytes is enough; 15, or 14 with padding, is not; the padding is not counted as bytes.
  EXPECT_TRUE(load_config_text(fmt_secret("whsec_AAAAAAAAAAAAAAAAAAAAAA==")));
  EXPECT_NE(secret_error("whsec_AAAAAAAAAAAAAAAAAAAA").find("decodes to 15 bytes"),
            std::string::npos);
  EXPECT_NE(secret_error("whsec_AAAAAAAAAAAAAAAAAAA=").find("decodes to 14 bytes"),
            std::string::npos);
  EXPECT_NE(secret_error("whsec_AAAAAAAAAAAAAAAAAAAAAAA").find("not base64"), std::string::npos);
  EXPECT_NE(secret_error("whsec_AAAAAAAAAAAAAAAAAAAA*AAA").find("not base64"), std::string::npos);
  EXPECT_NE(secret_error("whsec_").find("not base64"), std::string::npos);
  // The error never repeats the secret.
  EXPECT_EQ(secret_error("whsec_AAAAAAAAAAAAAAAAAAAA").find("AAAA"), std::string::npos);

  EXPECT_EQ(load_error(R"(alerts:
  notifications:
    - type: webhook
      enabled: false
      min_level: warning
)"),
            "line 5: alerts.notifications[0]: min_level and team_id filter a delivery rule: an "
            "email entry with recipients or a webhook entry with a url");
  EXPECT_NE(load_error("alerts: {notifications: [{type: in_app, team_id: acme}]}")
                .find("filter a delivery rule"),
            std::string::npos);
  EXPECT_NE(load_error("alerts: {notifications: [{type: email, recipients: [a@b.c], secret: "
                       "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}]}")
                .find("a secret belongs to a webhook entry with a url"),
            std::string::npos);
  EXPECT_NE(load_error("alerts: {notifications: [{type: email, recipients: [a@b.c], url: "
                       "https://x.example.com}]}")
                .find("url belongs to a webhook"),
            std::string::npos);
  EXPECT_NE(load_error("alerts: {notifications: [{type: email, recipients: [\"a@b.c\\r\\nBcc: "
                       "x@y.z\"]}]}")
                .find("is not an email address"),
            std::string::npos);
  EXPECT_NE(load_error("alerts: {notifications: [{type: email, recipients: [a@b.c], team_id: "
                       "\"\"}]}")
                .find("alerts.notifications[0].team_id: expected a team id"),
            std::string::npos);
  EXPECT_NE(load_error("alerts: {notifications: [{type: email, recipients: [a@b.c], level: "
                       "info}]}")
                .find("alerts.notifications[0].level: unknown key"),
            std::string::npos);
}

TEST(config, alerts_email_relay) {
  EXPECT_FALSE(tally_config{}.alerts.email.has_value());
  tally_config cfg = load_ok(R"(
alerts:
  email:
    relay: "smtp://127.0.0.1:2525"
    starttls: true
    username: tally
    password_env: TALLY_SMTP_PASSWORD
    from: tally@example.com
    ca_file: /dev/null
    verify_peer: false
    timeout: 2500ms
  notifications:
    - type: email
      recipients: [a@example.com]
)");
  ASSERT_TRUE(cfg.alerts.email);
  EXPECT_EQ(*cfg.alerts.email, (smtp_config{.relay = "smtp://127.0.0.1:2525",
                                            .starttls = true,
                                            .username = "tally",
                                            .password_env = "TALLY_SMTP_PASSWORD",
                                            .from = "tally@example.com",
                                            .ca_file = "/dev/null",
                                            .verify_peer = false,
                                            .timeout_ms = 2500}));

  // Defaults: no STARTTLS requirement, verify the peer, 10 s; from may be left out while no
  // email rule is enabled.
  tally_config d = load_ok("alerts: {email: {relay: \"smtps://mail.example.com:465\"}}");
  ASSERT_TRUE(d.alerts.email);
  EXPECT_EQ(*d.alerts.email, (smtp_config{.relay = "smtps://mail.example.com:465"}));
  EXPECT_FALSE(d.alerts.email->starttls);
  EXPECT_TRUE(d.alerts.email->verify_peer);
  EXPECT_EQ(d.alerts.email->timeout_ms, 10'000);
}

TEST(config, alerts_email_errors_name_the_key_and_line) {
  EXPECT_EQ(load_error(R"(alerts:
  email:
    relay: "http://mail.example.com"
)"),
            "line 3: alerts.email.relay: expected smtp://host:port or smtps://host:port");
  EXPECT_EQ(load_error(R"(alerts:
  email:
    relay: "smtp://mail.example.com:25"
  notifications:
    - type: email
      recipients: [a@example.com]
)"),
            "line 3: alerts.email: from is required when an email notification is enabled");
  EXPECT_EQ(load_error(R"(alerts:
  email:
    relay: "smtps://mail.example.com"
    starttls: true
)"),
            "line 4: alerts.email.starttls: starttls applies to smtp:// relays; smtps:// is TLS "
            "from the first byte");
  EXPECT_EQ(load_error(R"(alerts:
  email:
    relay: "smtp://mail.example.com"
    username: tally
    password_env: "hunter2!"
)"),
            "line 5: alerts.email.password_env: expected the NAME of an environment variable "
            "holding the password (letters, digits, _), never the password itself");
  EXPECT_EQ(load_error(R"(alerts:
  email:
    relay: "smtp://mail.example.com"
    pasword_env: X
)"),
            "line 4: alerts.email.pasword_env: unknown key (expected one of: relay, starttls, "
            "username, password_env, from, ca_file, verify_peer, timeout)");
  EXPECT_EQ(load_error(R"(alerts:
  email:
    relay: "smtp://mail.example.com"
    ca_file: /nonexistent/ca.pem
)"),
            "line 4: alerts.email.ca_file: cannot read '/nonexistent/ca.pem': No such file or "
            "directory");
  EXPECT_NE(load_error("alerts: {email: {from: a@b.c}}").find("alerts.email: relay is required"),
            std::string::npos);
  EXPECT_NE(load_error("alerts: {email: {relay: \"smtp://:25\"}}").find("no host"),
            std::string::npos);
  EXPECT_NE(load_error("alerts: {email: {relay: \"smtp://h\", password_env: P}}")
                .find("password_env needs a username"),
            std::string::npos);
  EXPECT_NE(load_error("alerts: {email: {relay: \"smtp://h\", timeout: 0s}}")
                .find("alerts.email.timeout: must be more than 0"),
            std::string::npos);
  EXPECT_NE(load_error("alerts: {email: {relay: \"smtp://h\", timeout: soon}}")
                .find("alerts.email.timeout: 'soon' is not a duration"),
            std::string::npos);
  EXPECT_NE(load_error("alerts: {email: {relay: \"smtp://h\", starttls: maybe}}")
                .find("alerts.email.starttls: expected true or false"),
            std::string::npos);
  EXPECT_NE(load_error("alerts: {email: {relay: \"smtp://h\", from: \"a@b.c\\nBcc: x@y\"}}")
                .find("is not an email address"),
            std::string::npos);
}

TEST(config, webhooks_section) {
  const webhooks_config d = load_ok("").webhooks;
  EXPECT_FALSE(d.allow_private_targets);
  EXPECT_EQ(d.timeout_ms, 10'000);
  EXPECT_EQ(d.retry_schedule_ms,
            (std::vector<std::int64_t>{5'000, 5 * 60'000, 30 * 60'000, 2 * 3'600'000, 5 * 3'600'000,
                                       10 * 3'600'000, 10 * 3'600'000}));
  std::int64_t total = 0;
  for (auto ms : d.retry_schedule_ms) total += ms;
  EXPECT_EQ(total, 27 * 3'600'000LL + 35 * 60'000 + 5'000);  // ~27.6 h
  EXPECT_EQ(d.jitter_percent, 20);
  EXPECT_EQ(d.max_in_flight, 256);

  tally_config cfg = load_ok(R"(
webhooks:
  allow_private_targets: true
  timeout: 1500ms
  retry_schedule: [250ms, 2s, 1m, 1h, 1d]
  jitter_percent: 0
  max_in_flight: 8
)");
  EXPECT_EQ(cfg.webhooks,
            (webhooks_config{.allow_private_targets = true,
                             .timeout_ms = 1'500,
                             .retry_schedule_ms = {250, 2'000, 60'000, 3'600'000, 86'400'000},
                             .jitter_percent = 0,
                             .max_in_flight = 8}));
  EXPECT_TRUE(load_ok("webhooks: {retry_schedule: []}").webhooks.retry_schedule_ms.empty());

  EXPECT_EQ(load_error("webhooks:\n  timeout: 10s\n  retries: [5s]\n"),
            "line 3: webhooks.retries: unknown key (expected one of: allow_private_targets, "
            "timeout, retry_schedule, jitter_percent, max_in_flight)");
  EXPECT_EQ(load_error("webhooks:\n  retry_schedule:\n    - 5s\n    - 5 minutes\n"),
            "line 4: webhooks.retry_schedule[1]: '5 minutes' is not a duration (e.g. 7d, 12h, "
            "30m, 45s, 250ms, 1h30m, or seconds)");
  EXPECT_EQ(load_error("webhooks:\n  jitter_percent: 101\n"),
            "line 2: webhooks.jitter_percent: must be between 0 and 100");
  EXPECT_NE(load_error("webhooks: {retry_schedule: 5s}").find("expected a list of durations"),
            std::string::npos);
  EXPECT_NE(load_error("webhooks: {retry_schedule: [0s]}").find("must be more than 0"),
            std::string::npos);
  EXPECT_NE(load_error("webhooks: {max_in_flight: 0}").find("between 1 and 100000"),
            std::string::npos);
  EXPECT_NE(load_error("webhooks: {timeout: 2h}").find("webhooks.timeout: must be more than 0"),
            std::string::npos);
  EXPECT_NE(load_error("webhooks: {allow_private_targets: 1}").find("expected true or false"),
            std::string::npos);
}

// Sets an environment variable for one scope (tests in this binary run on one thread).
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~scoped_env() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(config, env_override_allows_private_webhook_targets) {
  const std::string path = ::testing::TempDir() + "/tally-config-env.yaml";
  {
    std::ofstream out(path);
    out << "webhooks:\n  allow_private_targets: false\n";
  }
  {
    scoped_env env("TALLY_WEBHOOKS_ALLOW_PRIVATE", "");
    EXPECT_FALSE(load_config(path).value().webhooks.allow_private_targets);
  }
  {
    scoped_env env("TALLY_WEBHOOKS_ALLOW_PRIVATE", "1");
    EXPECT_TRUE(load_config(path).value().webhooks.allow_private_targets);
    // load_config_text reads the text only.
    EXPECT_FALSE(
        load_ok("webhooks: {allow_private_targets: false}").webhooks.allow_private_targets);
    tally_config c;
    ASSERT_TRUE(apply_env_overrides(c));
    EXPECT_TRUE(c.webhooks.allow_private_targets);
  }
  {
    scoped_env env("TALLY_WEBHOOKS_ALLOW_PRIVATE", "0");
    tally_config c;
    c.webhooks.allow_private_targets = true;
    ASSERT_TRUE(apply_env_overrides(c));
    EXPECT_FALSE(c.webhooks.allow_private_targets);
  }
  {
    scoped_env env("TALLY_WEBHOOKS_ALLOW_PRIVATE", "please");
    auto r = load_config(path);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "TALLY_WEBHOOKS_ALLOW_PRIVATE='please': expected 1, true, 0 or false");
  }
  std::remove(path.c_str());
}

TEST(config, usage_retention_and_tolerances) {
  tally_config cfg = load_ok(R"(
usage:
  retention:
    detailed: 30
    daily: 400
    monthly: forever
  aggregation:
    schedule: "15 3 * * *"
  late_grace: 12h
  future_skew: 300
)");
  EXPECT_EQ(cfg.retention.detailed_days, 30);
  EXPECT_EQ(cfg.retention.daily_days, 400);
  EXPECT_EQ(cfg.retention.monthly_days, -1);
  EXPECT_EQ(cfg.retention.aggregation_hour, 3);
  EXPECT_EQ(cfg.retention.aggregation_minute, 15);
  EXPECT_EQ(cfg.late_grace_ms, 43'200'000);
  EXPECT_EQ(cfg.future_skew_ms, 300'000);

  EXPECT_NE(load_error("usage: {retention: {detailed: 0}}").find("usage.retention.detailed"),
            std::string::npos);
  EXPECT_NE(load_error("usage: {retention: {hourly: 5}}").find("usage.retention.hourly"),
            std::string::npos);
  EXPECT_NE(load_error("usage: {aggregation: {schedule: \"0 2 * * 1\"}}").find("daily cron"),
            std::string::npos);
  EXPECT_NE(load_error("usage: {late_grace: 7 days}").find("not a duration"), std::string::npos);
}

TEST(config, durations_and_times) {
  EXPECT_EQ(parse_duration_ms("7d").value(), 604'800'000);
  EXPECT_EQ(parse_duration_ms("1h30m").value(), 5'400'000);
  EXPECT_EQ(parse_duration_ms("250ms").value(), 250);
  EXPECT_EQ(parse_duration_ms("45").value(), 45'000);
  EXPECT_EQ(parse_duration_ms("2w").value(), 1'209'600'000);
  EXPECT_FALSE(parse_duration_ms("1h30"));
  EXPECT_FALSE(parse_duration_ms("-5m"));
  EXPECT_FALSE(parse_duration_ms("5y"));
  EXPECT_FALSE(parse_duration_ms(""));

  EXPECT_EQ(parse_time_ms("2026-01-01").value(), jan_1_2026_ms);
  EXPECT_EQ(parse_time_ms("2026-01-01T00:00:00Z").value(), jan_1_2026_ms);
  EXPECT_EQ(parse_time_ms("2026-01-01T01:00:00+01:00").value(), jan_1_2026_ms);
  EXPECT_EQ(parse_time_ms("2025-12-31T19:00:00.5-05:00").value(), jan_1_2026_ms + 500);
  EXPECT_FALSE(parse_time_ms("2026-01-01T00:00:00"));  // no offset: which zone?
  EXPECT_FALSE(parse_time_ms("2026-13-01"));
  EXPECT_FALSE(parse_time_ms("2026-02-29"));  // not a leap year
  EXPECT_FALSE(parse_time_ms("yesterday"));
}

TEST(config, invalid_yaml_and_missing_file) {
  auto r = load_config_text("limits:\n  global: {max_cost_per_day: 1\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("invalid YAML"), std::string::npos) << r.error().message;
  EXPECT_GT(r.error().line, 0);
  EXPECT_NE(load_error("- just\n- a list\n").find("mapping"), std::string::npos);

  auto missing = load_config("/nonexistent/tally-config.yaml");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/nonexistent/tally-config.yaml"), std::string::npos);
  EXPECT_THROW(missing.value(), std::runtime_error);
}

TEST(config, example_file_loads) {
  auto loaded = load_config(std::string(TALLY_SOURCE_DIR) + "/deploy/config.example.yaml");
  ASSERT_TRUE(loaded) << loaded.error().message;
  const tally_config& cfg = *loaded;

  ASSERT_EQ(cfg.pricing.size(), 1u);
  const price_version& v = cfg.pricing[0];
  EXPECT_EQ(v.models.at("sonnet"), (model_price{nanos{3'000'000'000}, nanos{15'000'000'000},
                                                nanos{3'750'000'000}, nanos{300'000'000}}));
  EXPECT_EQ(v.models.at("opus").output_per_million, nanos{75'000'000'000});
  EXPECT_EQ(v.models.at("haiku").cache_read_per_million, nanos{100'000'000});

  pricing_table table;
  table.add(v);
  const std::int64_t now = v.effective_from_ms + 1;
  EXPECT_EQ(table.price("claude-sonnet-4-5-20250929", {}, now)->model_key, "sonnet");
  EXPECT_EQ(table.price("claude-opus-4-5-20251101", {}, now)->model_key, "opus-4-5");
  EXPECT_EQ(table.price("claude-opus-4-1-20250805", {}, now)->model_key, "opus");
  EXPECT_EQ(table.price("claude-3-5-haiku-20241022", {}, now)->model_key, "haiku-3-5");
  EXPECT_EQ(table.price("claude-haiku-4-5-20251001", {}, now)->model_key, "haiku");
  // 2500 in + 800 out on Sonnet 4: $0.0195.
  EXPECT_EQ(table.price("claude-sonnet-4-20250514", {.input = 2500, .output = 800}, now)->cost,
            nanos{19'500'000});

  EXPECT_EQ(cfg.limits.global.max_cost_per_day, nanos{50'000'000'000});
  EXPECT_EQ(cfg.limits.team_default.max_cost_per_month, nanos{200'000'000'000});
  EXPECT_EQ(cfg.limits.agent_default.max_tokens_per_run, 100'000);
  EXPECT_EQ(cfg.limits.agents.at("feature-dev").max_cost_per_month, nanos{150'000'000'000});
  EXPECT_EQ(cfg.teams.at("my-arpg").timezone, "Europe/Berlin");
  EXPECT_EQ(cfg.teams.at("my-arpg").limits.max_cost_per_day, nanos{30'000'000'000});
  EXPECT_EQ(cfg.alerts.thresholds.size(), 4u);
  EXPECT_EQ(cfg.alerts.notifications.size(), 3u);
  EXPECT_FALSE(cfg.alerts.email);  // commented out: no relay in a try-out

  // The commented-out alerts.email block is valid once uncommented (its ca_file aside).
  std::ifstream in(std::string(TALLY_SOURCE_DIR) + "/deploy/config.example.yaml");
  std::string block = "alerts:\n", line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line == "  # email:") inside = true;
    if (!inside) continue;
    if (!line.starts_with("  # ")) break;
    line.erase(2, 2);
    if (line.find("ca_file:") != std::string::npos) line = "    ca_file: /dev/null";
    block += line + "\n";
  }
  tally_config email = load_ok(block);
  ASSERT_TRUE(email.alerts.email) << block;
  EXPECT_EQ(email.alerts.email->password_env, "TALLY_SMTP_PASSWORD");
  EXPECT_EQ(email.alerts.email->timeout_ms, 10'000);
  EXPECT_EQ(cfg.webhooks, webhooks_config{});
  EXPECT_EQ(cfg.retention.monthly_days, -1);
  EXPECT_EQ(cfg.retention.aggregation_hour, 2);
  EXPECT_EQ(cfg.late_grace_ms, 7 * 86'400'000LL);
}

}  // namespace
}  // namespace tally
