#include "projections/insights.h"

#include <algorithm>
#include <map>
#include <utility>

namespace tally {
namespace {

using wide = __int128;

// percent of a part in a whole, rounded down (0 for an empty whole).
std::int64_t percent_of(std::int64_t part, std::int64_t whole) {
  return whole <= 0 ? 0 : static_cast<std::int64_t>(wide{part} * 100 / whole);
}

token_counts tokens_of(const totals& t) {
  return {t.input_tokens, t.output_tokens, t.cache_creation_tokens, t.cache_read_tokens};
}

void add(token_counts& a, const token_counts& b) {
  a.input += b.input;
  a.output += b.output;
  a.cache_creation += b.cache_creation;
  a.cache_read += b.cache_read;
}

std::int64_t prompt_of(const token_counts& t) {
  return t.input + t.cache_creation + t.cache_read;
}

// The runs of one agent on one model this month (runs with usage only).
struct group {
  agent_id agent;
  std::string model;  // model key, or the session's model when unpriced
  const model_price* price = nullptr;
  std::int64_t runs = 0;
  token_counts tokens;
  nanos cost;
  std::int64_t tiny_runs = 0;
  token_counts tiny_tokens;
};

// One agent's ended runs this month.
struct ended {
  std::int64_t runs = 0, failed = 0, terminated = 0;
  nanos cost, bad_cost;
};

void escape_into(std::string& out, std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (c <= ' ' || c > '~' || c == '/' || c == '"' || c == '\\' || c == '%' || c == ':') {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
}

insight make(std::string_view rule, const agent_id& agent, std::string_view model,
             const month_progress& p, nanos cost, nanos saving) {
  insight i;
  i.id = insight_id(rule, agent, model);
  i.rule = std::string(rule);
  i.agent = agent;
  i.model = std::string(model);
  i.cost = cost;
  i.saving_so_far = saving;
  i.monthly_saving = project_to_month(saving, p);
  return i;
}

void model_downgrade(const group& g, const price_version& v, const month_progress& p,
                     const insight_options& o, std::vector<insight>& out) {
  const std::int64_t total = g.tokens.total();
  if (total >= g.runs * o.small_run_tokens) return;  // the average is not below the bar
  const nanos at_model = compute_cost(*g.price, g.tokens);
  if (at_model.count <= 0) return;
  const std::string* tier = nullptr;
  nanos at_tier;
  for (auto& [key, price] : v.models) {
    if (key == g.model) continue;
    const nanos c = compute_cost(price, g.tokens);
    if (c >= at_model || wide{c.count} * 100 > wide{at_model.count} * o.max_cheaper_cost_percent) {
      continue;
    }
    if (!tier || c > at_tier) {
      tier = &key;
      at_tier = c;
    }
  }
  if (!tier) return;
  const nanos saving = at_model - at_tier;
  const std::int64_t avg = total / g.runs;
  const std::int64_t reduction = percent_of(saving.count, at_model.count);
  insight i = make("model_downgrade", g.agent, g.model, p, g.cost, saving);
  i.suggested_model = *tier;
  i.runs = g.runs;
  i.title =
      g.agent.str() + " uses " + g.model + " but averages " + short_tokens(avg) + " tokens/run";
  i.suggestion = "Switch to " + *tier + " for ~" + std::to_string(reduction) + "% cost reduction";
  i.metrics = {{"avg_tokens_per_run", avg},
               {"cost_at_model_nanos", at_model.count},
               {"cost_at_suggested_nanos", at_tier.count},
               {"reduction_percent", reduction}};
  out.push_back(std::move(i));
}

void output_heavy(const group& g, const month_progress& p, const insight_options& o,
                  std::vector<insight>& out) {
  const std::int64_t prompt = prompt_of(g.tokens);
  if (prompt <= 0 || wide{g.tokens.output} <= wide{prompt} * o.output_input_ratio) return;
  const token_counts excess{0, g.tokens.output - prompt, 0, 0};
  const nanos saving = compute_cost(*g.price, excess);
  if (saving.count <= 0) return;
  insight i = make("output_heavy", g.agent, g.model, p, g.cost, saving);
  i.runs = g.runs;
  const std::int64_t ratio = g.tokens.output / prompt;
  i.title =
      g.agent.str() + " writes " + std::to_string(ratio) + "x more output than input on " + g.model;
  i.suggestion =
      "Ask for shorter answers (a lower max_tokens, terser instructions, structured output)";
  i.metrics = {
      {"output_tokens", g.tokens.output}, {"prompt_tokens", prompt}, {"output_input_ratio", ratio}};
  out.push_back(std::move(i));
}

void tiny_runs(const group& g, const month_progress& p, const insight_options& o,
               std::vector<insight>& out) {
  if (g.tiny_runs < o.min_tiny_runs || percent_of(g.tiny_runs, g.runs) < o.tiny_runs_percent) {
    return;
  }
  if (o.batch_size < 2) return;
  const token_counts prompt{g.tiny_tokens.input, 0, g.tiny_tokens.cache_creation,
                            g.tiny_tokens.cache_read};
  const nanos prompt_cost = compute_cost(*g.price, prompt);
  const nanos saving{
      static_cast<std::int64_t>(wide{prompt_cost.count} * (o.batch_size - 1) / o.batch_size)};
  if (saving.count <= 0) return;
  insight i = make("tiny_runs", g.agent, g.model, p, g.cost, saving);
  i.runs = g.runs;
  i.title = g.agent.str() + " makes many tiny runs on " + g.model + " (" +
            std::to_string(g.tiny_runs) + " under " + short_tokens(o.tiny_run_tokens) + " tokens)";
  i.suggestion = "Batch them (" + std::to_string(o.batch_size) +
                 " per run) so the shared context is sent once";
  i.metrics = {{"tiny_runs", g.tiny_runs},
               {"tiny_runs_percent", percent_of(g.tiny_runs, g.runs)},
               {"batch_size", o.batch_size}};
  out.push_back(std::move(i));
}

void low_cache_reads(const group& g, const month_progress& p, const insight_options& o,
                     std::vector<insight>& out) {
  const std::int64_t prompt = prompt_of(g.tokens);
  if (prompt < o.min_prompt_tokens ||
      wide{g.tokens.cache_read} * 100 >= wide{prompt} * o.low_cache_read_percent) {
    return;
  }
  const std::int64_t cacheable =
      std::min(g.tokens.input, static_cast<std::int64_t>(wide{prompt} * o.cacheable_percent / 100) -
                                   g.tokens.cache_read);
  if (cacheable <= 0) return;
  const nanos gap = g.price->input_per_million - g.price->cache_read_per_million;
  if (gap.count <= 0) return;
  const nanos saving = compute_cost(model_price{gap, {}, {}, {}}, token_counts{cacheable, 0, 0, 0});
  if (saving.count <= 0) return;
  insight i = make("low_cache_reads", g.agent, g.model, p, g.cost, saving);
  i.runs = g.runs;
  const std::int64_t share = percent_of(g.tokens.cache_read, prompt);
  i.title = g.agent.str() + " reads only " + std::to_string(share) + "% of its prompts on " +
            g.model + " from the cache";
  i.suggestion = "Cache the repeated context (prompt caching): cache reads cost " +
                 format_usd(g.price->cache_read_per_million) + " instead of " +
                 format_usd(g.price->input_per_million) + " USD per million tokens";
  i.metrics = {{"prompt_tokens", prompt},
               {"cache_read_tokens", g.tokens.cache_read},
               {"cache_read_percent", share},
               {"cacheable_tokens", cacheable}};
  out.push_back(std::move(i));
}

void failed_runs(const agent_id& agent, const ended& e, const month_progress& p,
                 const insight_options& o, std::vector<insight>& out) {
  const std::int64_t bad = e.failed + e.terminated;
  if (e.runs < o.min_runs || percent_of(bad, e.runs) < o.failed_runs_percent) return;
  if (e.bad_cost.count <= 0) return;
  insight i = make("failed_runs", agent, "", p, e.cost, e.bad_cost);
  i.runs = e.runs;
  const std::int64_t rate = percent_of(bad, e.runs);
  i.title = agent.str() + " has a high rate of failed runs (" + std::to_string(rate) + "%)";
  i.suggestion =
      "Improve prompts or per-run limits to reduce failed and terminated runs; their cost is lost";
  i.metrics = {{"ended_runs", e.runs},
               {"failed_runs", e.failed},
               {"terminated_runs", e.terminated},
               {"failed_percent", rate}};
  out.push_back(std::move(i));
}

}  // namespace

std::string insight_id(std::string_view rule, const agent_id& agent, std::string_view model) {
  std::string id(rule);
  id.push_back(':');
  escape_into(id, agent.str());
  if (!model.empty()) {
    id.push_back(':');
    escape_into(id, model);
  }
  return id;
}

nanos project_to_month(nanos so_far, const month_progress& p) {
  if (p.day <= 0) return so_far;
  return nanos{static_cast<std::int64_t>(wide{so_far.count} * p.days / p.day)};
}

std::string short_tokens(std::int64_t n) {
  if (n < 1000) return std::to_string(n);
  const bool mega = n >= 1'000'000;
  const std::int64_t tenths = n / (mega ? 100'000 : 100);
  std::string s = std::to_string(tenths / 10);
  if (tenths % 10) s += "." + std::to_string(tenths % 10);
  return s + (mega ? "M" : "k");
}

std::vector<insight> compute_insights(const std::vector<run_facts>& month_runs,
                                      const price_version* prices, const month_progress& p,
                                      const insight_options& o) {
  std::map<std::pair<agent_id, std::string>, group> groups;
  std::map<agent_id, ended> ends;
  for (auto& r : month_runs) {
    const auto& s = r.record;
    if (run_ended(s.status)) {
      auto& e = ends[s.agent];
      ++e.runs;
      e.cost += nanos{r.used.cost_nanos};
      if (s.status == session_status::failed || s.status == session_status::terminated) {
        ++(s.status == session_status::failed ? e.failed : e.terminated);
        e.bad_cost += nanos{r.used.cost_nanos};
      }
    }
    if (r.used.events <= 0) continue;  // no usage: nothing to price
    const std::string* key = prices ? resolve_model_key(*prices, s.model) : nullptr;
    auto& g = groups[{s.agent, key ? *key : s.model}];
    g.agent = s.agent;
    g.model = key ? *key : s.model;
    if (key) g.price = &prices->models.at(*key);
    ++g.runs;
    const token_counts t = tokens_of(r.used);
    add(g.tokens, t);
    g.cost += nanos{r.used.cost_nanos};
    if (t.total() < o.tiny_run_tokens) {
      ++g.tiny_runs;
      add(g.tiny_tokens, t);
    }
  }
  std::vector<insight> out;
  for (auto& [k, g] : groups) {
    if (!g.price || g.runs < o.min_runs) continue;
    model_downgrade(g, *prices, p, o, out);
    output_heavy(g, p, o, out);
    tiny_runs(g, p, o, out);
    low_cache_reads(g, p, o, out);
  }
  for (auto& [agent, e] : ends) failed_runs(agent, e, p, o, out);
  std::sort(out.begin(), out.end(), [](const insight& a, const insight& b) {
    if (a.monthly_saving != b.monthly_saving) return a.monthly_saving > b.monthly_saving;
    return a.id < b.id;
  });
  return out;
}

}  // namespace tally
