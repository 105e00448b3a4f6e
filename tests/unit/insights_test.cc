// The optimisation insight rules (projections/insights.h) over seeded runs and the seed's
// pricing table (haiku / sonnet / opus), with every dollar figure checked exactly in nanos;
// and the run statistics the run log's high_tokens flag comes from (projections/run_log.h).
#include "projections/insights.h"

#include <gtest/gtest.h>

#include "schemas/event_time.h"

namespace tally {
namespace {

const time_ms nov_10 = 1'794'304'800'000;  // 2026-11-10T10:00:00Z: day 10 of 30

// The cost-management spec's pricing table (cache prices by the default multipliers).
price_version seed_prices() {
  price_version v;
  v.id = "seed";
  v.models["haiku"] = make_model_price(nanos{250'000'000}, nanos{1'250'000'000});
  v.models["sonnet"] = make_model_price(nanos{3'000'000'000}, nanos{15'000'000'000});
  v.models["opus"] = make_model_price(nanos{15'000'000'000}, nanos{75'000'000'000});
  v.aliases = {{"claude-opus-4*", "opus"}};
  return v;
}

struct run_spec {
  std::string agent;
  std::string model;
  session_status status = session_status::completed;
  token_counts tokens;
  std::int64_t cost_nanos = 0;
};

std::vector<run_facts> runs_of(const std::vector<std::pair<int, run_spec>>& specs) {
  std::vector<run_facts> out;
  int n = 0;
  for (auto& [count, s] : specs) {
    for (int i = 0; i < count; ++i) {
      run_facts r;
      r.id = session_id{"s-" + std::to_string(n++)};
      r.record.agent = agent_id{s.agent};
      r.record.model = s.model;
      r.record.status = s.status;
      r.record.opened_at = nov_10 - n * 60'000;
      r.used.input_tokens = s.tokens.input;
      r.used.output_tokens = s.tokens.output;
      r.used.cache_creation_tokens = s.tokens.cache_creation;
      r.used.cache_read_tokens = s.tokens.cache_read;
      r.used.cost_nanos = s.cost_nanos;
      r.used.events = 1;
      out.push_back(std::move(r));
    }
  }
  return out;
}

const month_progress day_10_of_30{"2026-11", 10, 30};

const insight* find(const std::vector<insight>& all, std::string_view id) {
  for (auto& i : all) {
    if (i.id == id) return &i;
  }
  return nullptr;
}

std::int64_t metric(const insight& i, std::string_view name) {
  for (auto& m : i.metrics) {
    if (m.name == name) return m.value;
  }
  ADD_FAILURE() << i.id << " has no metric " << name;
  return -1;
}

TEST(insights, opus_for_small_runs_suggests_sonnet_with_the_exact_saving) {
  // 10 runs of 1 500 input + 500 output tokens on opus: $0.60 at opus, $0.12 at sonnet, $0.01
  // at haiku. Sonnet is the closest tier that at least halves the cost.
  const auto prices = seed_prices();
  const auto all = compute_insights(runs_of({{10,
                                              {"feature-dev",
                                               "claude-opus-4-1",
                                               session_status::completed,
                                               {1500, 500, 0, 0},
                                               60'000'000}}}),
                                    &prices, day_10_of_30);
  ASSERT_EQ(all.size(), 1u);
  const insight& i = all[0];
  EXPECT_EQ(i.id, "model_downgrade:feature-dev:opus");
  EXPECT_EQ(i.rule, "model_downgrade");
  EXPECT_EQ(i.model, "opus");
  EXPECT_EQ(i.suggested_model, "sonnet");
  EXPECT_EQ(i.runs, 10);
  EXPECT_EQ(i.cost, nanos{600'000'000});
  EXPECT_EQ(i.saving_so_far, nanos{480'000'000});     // $0.60 - $0.12
  EXPECT_EQ(i.monthly_saving, nanos{1'440'000'000});  // x 30 / 10
  EXPECT_EQ(i.title, "feature-dev uses opus but averages 2k tokens/run");
  EXPECT_EQ(i.suggestion, "Switch to sonnet for ~80% cost reduction");
  EXPECT_EQ(metric(i, "avg_tokens_per_run"), 2000);
  EXPECT_EQ(metric(i, "cost_at_model_nanos"), 600'000'000);
  EXPECT_EQ(metric(i, "cost_at_suggested_nanos"), 120'000'000);
}

TEST(insights, the_closest_cheaper_tier_is_taken) {
  // With Opus 4.5 ($5/$25) in the table, opus's closest tier that halves the cost is Opus 4.5
  // ($0.20 for the same tokens, a third of $0.60), not sonnet.
  auto prices = seed_prices();
  prices.models["opus-4-5"] = make_model_price(nanos{5'000'000'000}, nanos{25'000'000'000});
  const auto all = compute_insights(
      runs_of({{10, {"feature-dev", "opus", session_status::completed, {1500, 500, 0, 0}, 1}}}),
      &prices, day_10_of_30);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].suggested_model, "opus-4-5");
  EXPECT_EQ(all[0].saving_so_far, nanos{400'000'000});
  // The cheapest model has no cheaper tier: nothing to say about haiku's small runs.
  EXPECT_TRUE(compute_insights(
                  runs_of({{10, {"a", "haiku", session_status::completed, {1500, 500, 0, 0}, 1}}}),
                  &prices, day_10_of_30)
                  .empty());
}

TEST(insights, every_rule_with_its_dollar_figure_ordered_by_monthly_saving) {
  const auto prices = seed_prices();
  const auto c = session_status::completed;
  const auto runs = runs_of({
      // model_downgrade: as above, $0.48 so far.
      {10, {"feature-dev", "opus", c, {1500, 500, 0, 0}, 60'000'000}},
      // failed_runs: 5 failed + 2 terminated of 20 ended runs (35 %), $0.01 each: $0.07.
      {13, {"clarifier", "sonnet", c, {10'000, 2'000, 0, 10'000}, 10'000'000}},
      {5, {"clarifier", "sonnet", session_status::failed, {10'000, 2'000, 0, 10'000}, 10'000'000}},
      {2,
       {"clarifier", "sonnet", session_status::terminated, {10'000, 2'000, 0, 10'000}, 10'000'000}},
      // tiny_runs: 30 runs of 400 + 100 tokens on haiku; their prompt cost 12 000 x $0.25/M =
      // $0.003, of which 4/5 (batches of 5) is saved: $0.0024.
      {30, {"builder", "haiku", c, {400, 100, 0, 0}, 125'000}},
      // output_heavy: 5 runs of 1 000 in + 9 000 out on sonnet: 45 000 output for a 5 000-token
      // prompt; the 40 000 beyond it at $15/M: $0.60.
      {5, {"writer", "sonnet", c, {1000, 9000, 0, 0}, 138'000'000}},
      // low_cache_reads: 5 runs of 50 000 input + 2 000 cache reads (3 % of a 260 000-token
      // prompt); half the prompt minus the reads, 120 000 tokens, at $3 - $0.30 per M: $0.324.
      {5, {"reviewer", "sonnet", c, {50'000, 1000, 0, 2'000}, 165'600'000}},
  });
  const auto all = compute_insights(runs, &prices, day_10_of_30);
  std::vector<std::string> ids;
  for (auto& i : all) ids.push_back(i.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"output_heavy:writer:sonnet",
                                           "model_downgrade:feature-dev:opus",
                                           "low_cache_reads:reviewer:sonnet",
                                           "failed_runs:clarifier", "tiny_runs:builder:haiku"}));

  const insight* f = find(all, "failed_runs:clarifier");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->model, "");
  EXPECT_EQ(f->runs, 20);
  EXPECT_EQ(f->cost, nanos{200'000'000});
  EXPECT_EQ(f->saving_so_far, nanos{70'000'000});
  EXPECT_EQ(f->monthly_saving, nanos{210'000'000});
  EXPECT_EQ(f->title, "clarifier has a high rate of failed runs (35%)");
  EXPECT_EQ(metric(*f, "failed_runs"), 5);
  EXPECT_EQ(metric(*f, "terminated_runs"), 2);
  EXPECT_EQ(metric(*f, "failed_percent"), 35);

  const insight* t = find(all, "tiny_runs:builder:haiku");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->saving_so_far, nanos{2'400'000});
  EXPECT_EQ(t->monthly_saving, nanos{7'200'000});
  EXPECT_EQ(t->title, "builder makes many tiny runs on haiku (30 under 1k tokens)");
  EXPECT_EQ(metric(*t, "tiny_runs"), 30);

  const insight* o = find(all, "output_heavy:writer:sonnet");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->saving_so_far, nanos{600'000'000});
  EXPECT_EQ(o->monthly_saving, nanos{1'800'000'000});
  EXPECT_EQ(o->title, "writer writes 9x more output than input on sonnet");

  const insight* l = find(all, "low_cache_reads:reviewer:sonnet");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->saving_so_far, nanos{324'000'000});
  EXPECT_EQ(l->monthly_saving, nanos{972'000'000});
  EXPECT_EQ(metric(*l, "prompt_tokens"), 260'000);
  EXPECT_EQ(metric(*l, "cache_read_percent"), 3);
  EXPECT_EQ(metric(*l, "cacheable_tokens"), 120'000);
  EXPECT_EQ(l->suggestion,
            "Cache the repeated context (prompt caching): cache reads cost 0.3 instead of 3 USD "
            "per million tokens");
}

TEST(insights, too_few_runs_unpriced_models_and_no_prices_say_nothing_priced) {
  const auto prices = seed_prices();
  // Four runs: under min_runs.
  EXPECT_TRUE(compute_insights(
                  runs_of({{4, {"a", "opus", session_status::completed, {1500, 500, 0, 0}, 1}}}),
                  &prices, day_10_of_30)
                  .empty());
  // A model the table does not know, and no table at all: only failed_runs (recorded costs).
  const auto runs = runs_of({{5, {"a", "gpt-4o", session_status::failed, {1500, 500, 0, 0}, 3}}});
  for (const price_version* p : {&prices, static_cast<const price_version*>(nullptr)}) {
    const auto all = compute_insights(runs, p, day_10_of_30);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].id, "failed_runs:a");
    EXPECT_EQ(all[0].saving_so_far, nanos{15});
    EXPECT_EQ(all[0].monthly_saving, nanos{45});
  }
}

TEST(insights, ids_escape_their_components_and_projections_round_down) {
  EXPECT_EQ(insight_id("tiny_runs", agent_id{"a:b%c"}, "gpt 4/o"),
            "tiny_runs:a%3Ab%25c:gpt%204%2Fo");
  EXPECT_TRUE(valid_id(insight_id("tiny_runs", agent_id{"a:b%c"}, "gpt 4/o\"")));
  EXPECT_EQ(project_to_month(nanos{240'000'000}, {"2026-11", 23, 30}), nanos{313'043'478});
  EXPECT_EQ(project_to_month(nanos{7}, {"2026-02", 28, 28}), nanos{7});
  EXPECT_EQ(short_tokens(950), "950");
  EXPECT_EQ(short_tokens(2000), "2k");
  EXPECT_EQ(short_tokens(2549), "2.5k");
  EXPECT_EQ(short_tokens(1'250'000), "1.2M");
}

TEST(run_log, median_and_high_token_threshold_per_agent) {
  std::vector<run_facts> runs;
  auto add = [&](std::string agent, std::int64_t tokens, session_status st) {
    run_facts r;
    r.id = session_id{"s-" + std::to_string(runs.size())};
    r.record.agent = agent_id{agent};
    r.record.status = st;
    r.used.input_tokens = tokens;
    runs.push_back(r);
  };
  for (std::int64_t t : {100, 200, 300, 400, 500, 5000}) add("a", t, session_status::completed);
  add("a", 2000, session_status::active);  // flagged against the threshold, not in the median
  for (std::int64_t t : {10, 20, 30, 40}) add("b", t, session_status::failed);
  const auto stats = run_stats_by_agent(runs);
  ASSERT_TRUE(stats.contains(agent_id{"a"}));
  EXPECT_EQ(stats.at(agent_id{"a"}).ended_runs, 6u);
  EXPECT_EQ(stats.at(agent_id{"a"}).median_tokens, 350);  // (300 + 400) / 2
  EXPECT_EQ(stats.at(agent_id{"a"}).high_above, 1050);
  EXPECT_EQ(stats.at(agent_id{"b"}).median_tokens, 25);
  EXPECT_FALSE(stats.at(agent_id{"b"}).high_above);  // 4 ended runs: too few
}

TEST(run_log, month_progress_in_the_teams_zone) {
  const time_ms t = 1'795'428'000'000;  // 2026-11-23T10:00:00Z
  auto utc = month_progress_of(t, find_zone("UTC"));
  EXPECT_EQ(utc.month, "2026-11");
  EXPECT_EQ(utc.day, 23);
  EXPECT_EQ(utc.days, 30);
  // 2026-11-30T20:00Z is already December 1st at UTC+14.
  auto kiritimati =
      month_progress_of(t + 7 * 86'400'000 + 10 * 3'600'000, find_zone("Pacific/Kiritimati"));
  EXPECT_EQ(kiritimati.month, "2026-12");
  EXPECT_EQ(kiritimati.day, 1);
  EXPECT_EQ(kiritimati.days, 31);
  auto leap = month_progress_of(*parse_rfc3339("2028-02-10T00:00:00Z"), find_zone("UTC"));
  EXPECT_EQ(leap.days, 29);
}

}  // namespace
}  // namespace tally
