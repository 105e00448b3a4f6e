// config.yaml loading: the seed shapes, exact money, and errors that name the key and line.
#include "schemas/config.h"

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
  EXPECT_EQ(cfg.retention.monthly_days, -1);
  EXPECT_EQ(cfg.retention.aggregation_hour, 2);
  EXPECT_EQ(cfg.late_grace_ms, 7 * 86'400'000LL);
}

}  // namespace
}  // namespace tally
