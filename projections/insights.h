// Optimisation insights: rules over a team's runs of the current month and the pricing table,
// each with an estimated saving in integer nanos, so far this month and projected to the whole
// month (so_far * days_in_month / day_of_month, rounded down). A pure function of its inputs:
// the handler gathers the runs (projections/run_log.h) and the price version in force.
//
// The rules, per agent and model key (the session's model resolved in the price version; runs
// with usage only, except failed_runs):
//  * model_downgrade — runs averaging fewer than small_run_tokens tokens on a model that has a
//    cheaper tier: the most expensive model of the same price version that costs at most
//    max_cheaper_cost_percent % of it for the same tokens (the closest tier that at least
//    halves the cost; no provider or family is assumed). Saving: the month's tokens priced at
//    the model minus priced at the tier.
//  * failed_runs (per agent, every ended run) — failed + terminated runs at least
//    failed_runs_percent % of the ended runs. Saving: what those runs cost.
//  * output_heavy — output tokens more than output_input_ratio times the prompt tokens (input +
//    cache writes + cache reads). Saving: the output beyond the prompt's size, at the output
//    price.
//  * tiny_runs — at least min_tiny_runs runs under tiny_run_tokens tokens, and at least
//    tiny_runs_percent % of the runs. Saving: batching batch_size of them into one sends their
//    prompt once, so (batch_size - 1) / batch_size of the tiny runs' prompt cost.
//  * low_cache_reads — at least min_prompt_tokens prompt tokens of which less than
//    low_cache_read_percent % were cache reads. Saving: the input tokens that could have been
//    cache reads (cacheable_percent % of the prompt, minus the reads there were, at most the
//    uncached input) times (input price - cache read price).
// Every rule needs at least min_runs runs. Rules that price tokens skip unpriced models.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "projections/run_log.h"
#include "schemas/pricing.h"

namespace tally {

struct insight_options {
  std::int64_t min_runs = 5;                   // runs of the agent (and model) this month
  std::int64_t small_run_tokens = 10'000;      // model_downgrade: average tokens per run below
  std::int64_t max_cheaper_cost_percent = 50;  // model_downgrade: a tier costs at most this %
  std::int64_t failed_runs_percent = 20;       // failed_runs: share of the ended runs, at least
  std::int64_t output_input_ratio = 2;         // output_heavy: output > ratio x prompt
  std::int64_t tiny_run_tokens = 1'000;        // tiny_runs: a run under this many tokens is tiny
  std::int64_t min_tiny_runs = 20;             // tiny_runs: at least this many tiny runs
  std::int64_t tiny_runs_percent = 50;         // tiny_runs: and at least this share of the runs
  std::int64_t batch_size = 5;                 // tiny_runs: runs one batch would replace
  std::int64_t min_prompt_tokens = 100'000;    // low_cache_reads: prompt tokens this month
  std::int64_t low_cache_read_percent = 10;    // low_cache_reads: cache reads below this share
  std::int64_t cacheable_percent = 50;         // low_cache_reads: share of the prompt cacheable
};

// A number that backs an insight ("avg_tokens_per_run": 2000), for display.
struct insight_metric {
  std::string name;
  std::int64_t value = 0;
  friend bool operator==(const insight_metric&, const insight_metric&) = default;
};

struct insight {
  std::string id;    // stable: "<rule>:<agent>" or "<rule>:<agent>:<model>" (see insight_id)
  std::string rule;  // model_downgrade | failed_runs | output_heavy | tiny_runs | low_cache_reads
  agent_id agent;
  std::string model;            // model key (the session's model when unpriced); failed_runs: ""
  std::string suggested_model;  // model_downgrade: the cheaper tier; else ""
  std::string title;            // "feature-dev uses opus but averages 2k tokens/run"
  std::string suggestion;       // "Switch to sonnet for ~80% cost reduction"
  std::int64_t runs = 0;        // the runs this month the rule looked at
  nanos cost;                   // what they cost (accepted usage)
  nanos saving_so_far;          // estimated saving on them
  nanos monthly_saving;         // projected to the whole month
  std::vector<insight_metric> metrics;
};

// "<rule>:<agent>[:<model>]", '%' and ':' in the agent and any byte outside the id alphabet
// (and '%', ':') in the model escaped as %XX: an id (schemas/events.h valid_id) when short
// enough.
std::string insight_id(std::string_view rule, const agent_id& agent, std::string_view model);

// so_far scaled to the month: so_far * p.days / p.day, rounded down.
nanos project_to_month(nanos so_far, const month_progress& p);

// "950", "2k", "2.5k", "12.3k", "1.2M": a token count for a title (rounded down to 0.1).
std::string short_tokens(std::int64_t n);

// The insights of a team's runs of the month `p` (runs_in_month), priced at `prices` (the
// version in force; null: only failed_runs), by monthly saving (largest first), then id.
std::vector<insight> compute_insights(const std::vector<run_facts>& month_runs,
                                      const price_version* prices, const month_progress& p,
                                      const insight_options& o = {});

}  // namespace tally
