// Pricing: exact nano-dollar costs (one half-even rounding), glob aliases, version selection by
// event time, derived version ids, and the control-event codec.
#include "schemas/pricing.h"

#include <cstdint>
#include <limits>

#include <gtest/gtest.h>

namespace tally {
namespace {

constexpr nanos usd_per_million(std::int64_t micro_usd) {
  return nanos{micro_usd * 1000};
}

// $3 / $15 per million, cache write $3.75, cache read $0.30 (Anthropic's Sonnet 4 prices).
const model_price sonnet = make_model_price(nanos{3'000'000'000}, nanos{15'000'000'000});

price_version sample_version() {
  price_version v;
  v.id = "2026-01";
  v.effective_from_ms = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
  v.models["sonnet"] = sonnet;
  v.models["opus"] = make_model_price(nanos{15'000'000'000}, nanos{75'000'000'000});
  v.models["opus-4-5"] = make_model_price(nanos{5'000'000'000}, nanos{25'000'000'000});
  v.models["haiku"] = make_model_price(nanos{250'000'000}, nanos{1'250'000'000});
  v.aliases = {{"claude-sonnet-4*", "sonnet"},
               {"claude-opus-4-5*", "opus-4-5"},  // before the wider glob: first match wins
               {"claude-opus-4*", "opus"},
               {"claude-3-?-haiku*", "haiku"}};
  return v;
}

TEST(pricing, default_cache_prices_follow_anthropic_multipliers) {
  EXPECT_EQ(sonnet.cache_write_per_million, nanos{3'750'000'000});  // 1.25 x $3
  EXPECT_EQ(sonnet.cache_read_per_million, nanos{300'000'000});     // 0.1 x $3
  // Haiku $0.25: write 312'500'000, read 25'000'000 — exact, no double in between.
  auto haiku = make_model_price(nanos{250'000'000}, nanos{1'250'000'000});
  EXPECT_EQ(haiku.cache_write_per_million, nanos{312'500'000});
  EXPECT_EQ(haiku.cache_read_per_million, nanos{25'000'000});
  // Sub-nano results round half-even: 2*1.25 = 2.5 -> 2, 6*1.25 = 7.5 -> 8, 3*1.25 = 3.75 -> 4;
  // 5*0.1 = 0.5 -> 0, 15*0.1 = 1.5 -> 2.
  EXPECT_EQ(default_cache_write_price(nanos{2}), nanos{2});
  EXPECT_EQ(default_cache_write_price(nanos{6}), nanos{8});
  EXPECT_EQ(default_cache_write_price(nanos{3}), nanos{4});
  EXPECT_EQ(default_cache_read_price(nanos{5}), nanos{0});
  EXPECT_EQ(default_cache_read_price(nanos{15}), nanos{2});
  // Explicit cache prices win over the defaults.
  auto explicit_prices = make_model_price(nanos{1}, nanos{2}, nanos{3}, nanos{4});
  EXPECT_EQ(explicit_prices, (model_price{nanos{1}, nanos{2}, nanos{3}, nanos{4}}));
}

TEST(pricing, cost_of_input_and_output) {
  // 2500 input + 800 output at $3/$15: 2500*3000 + 800*15000 = 19'500'000 nanos ($0.0195).
  EXPECT_EQ(compute_cost(sonnet, {.input = 2500, .output = 800}), nanos{19'500'000});
}

TEST(pricing, cost_of_cache_buckets) {
  // 10'000 cache reads at $0.30/M: 10'000 * 300 = 3'000'000 nanos.
  EXPECT_EQ(compute_cost(sonnet, {.cache_read = 10'000}), nanos{3'000'000});
  // 2000 cache writes at $3.75/M: 2000 * 3750 = 7'500'000 nanos.
  EXPECT_EQ(compute_cost(sonnet, {.cache_creation = 2000}), nanos{7'500'000});
  // All four: 19'500'000 + 7'500'000 + 3'000'000 = 30'000'000.
  EXPECT_EQ(
      compute_cost(sonnet,
                   {.input = 2500, .output = 800, .cache_creation = 2000, .cache_read = 10'000}),
      nanos{30'000'000});
}

TEST(pricing, rounds_half_even_once_at_the_end) {
  // Realistic prices are whole nanos per token ($0.30/M is 300 nanos/token), but cheap cached
  // rates are not: $0.0125/M is 12.5 nanos/token. Input and cache read at $0.0125/M, output at
  // $0.0375/M (37.5/token), cache write defaulted to 1.25x input = 15'625'000/M (15.625/token).
  const auto cheap =
      make_model_price(nanos{12'500'000}, nanos{37'500'000}, std::nullopt, nanos{12'500'000});
  ASSERT_EQ(cheap.cache_write_per_million, nanos{15'625'000});
  EXPECT_EQ(compute_cost(cheap, {.input = 1}), nanos{12});           // 12.5  -> 12 (even)
  EXPECT_EQ(compute_cost(cheap, {.input = 3}), nanos{38});           // 37.5  -> 38 (even)
  EXPECT_EQ(compute_cost(cheap, {.input = 5}), nanos{62});           // 62.5  -> 62 (even)
  EXPECT_EQ(compute_cost(cheap, {.output = 1}), nanos{38});          // 37.5  -> 38
  EXPECT_EQ(compute_cost(cheap, {.cache_creation = 1}), nanos{16});  // 15.625 -> 16
  EXPECT_EQ(compute_cost(cheap, {.cache_creation = 2}), nanos{31});  // 31.25  -> 31
  // 1 input + 1 cache read: 12.5 + 12.5 = 25 exactly. Rounding each term first would give 24.
  EXPECT_EQ(compute_cost(cheap, {.input = 1, .cache_read = 1}), nanos{25});
  // 1 output + 1 cache write: 37.5 + 15.625 = 53.125 -> 53 (per-term rounding: 38 + 16 = 54).
  EXPECT_EQ(compute_cost(cheap, {.output = 1, .cache_creation = 1}), nanos{53});
}

TEST(pricing, cost_saturates_instead_of_wrapping) {
  bool saturated = false;
  const auto big = make_model_price(nanos{1'000'000'000'000}, nanos{0});  // $1000/M
  EXPECT_EQ(compute_cost(big, {.input = std::numeric_limits<std::int64_t>::max()}, &saturated),
            nanos{std::numeric_limits<std::int64_t>::max()});
  EXPECT_TRUE(saturated);
  // All four terms at the extreme overflow even __int128.
  const model_price max_price{nanos{std::numeric_limits<std::int64_t>::max()},
                              nanos{std::numeric_limits<std::int64_t>::max()},
                              nanos{std::numeric_limits<std::int64_t>::max()},
                              nanos{std::numeric_limits<std::int64_t>::max()}};
  constexpr auto m = std::numeric_limits<std::int64_t>::max();
  saturated = false;
  EXPECT_EQ(compute_cost(max_price, {m, m, m, m}, &saturated), nanos{m});
  EXPECT_TRUE(saturated);
  saturated = true;
  compute_cost(sonnet, {.input = 1}, &saturated);
  EXPECT_FALSE(saturated);
}

TEST(pricing, glob_matcher) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("claude-sonnet-4*", "claude-sonnet-4"));
  EXPECT_TRUE(glob_match("claude-sonnet-4*", "claude-sonnet-4-20250514"));
  EXPECT_FALSE(glob_match("claude-sonnet-4*", "claude-sonnet-3-7"));
  EXPECT_FALSE(glob_match("claude-sonnet-4*", "xclaude-sonnet-4"));  // anchored at the start
  EXPECT_TRUE(glob_match("a?c", "abc"));
  EXPECT_FALSE(glob_match("a?c", "ac"));
  EXPECT_TRUE(glob_match("a*b*c", "aXbYbZc"));  // needs backtracking
  EXPECT_FALSE(glob_match("a*b*c", "aXbYbZ"));
  EXPECT_TRUE(glob_match("*-haiku-*", "claude-3-5-haiku-20241022"));
  EXPECT_FALSE(glob_match("Claude*", "claude"));  // case-sensitive
  EXPECT_TRUE(glob_match("gpt-4o", "gpt-4o"));
  EXPECT_FALSE(glob_match("gpt-4o", "gpt-4o-mini"));  // no implicit trailing *
  EXPECT_TRUE(glob_match("[x]", "[x]"));              // brackets are literal
}

TEST(pricing, exact_key_then_aliases_in_order) {
  pricing_table table;
  table.add(sample_version());
  const std::int64_t t = 1'767'225'600'000 + 1;

  auto exact = table.price("sonnet", {.input = 2500, .output = 800}, t);
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->cost, nanos{19'500'000});
  EXPECT_EQ(exact->model_key, "sonnet");
  EXPECT_EQ(exact->version, "2026-01");

  auto aliased = table.price("claude-sonnet-4-20250514", {.input = 2500, .output = 800}, t);
  ASSERT_TRUE(aliased);
  EXPECT_EQ(aliased->model_key, "sonnet");
  EXPECT_EQ(aliased->cost, nanos{19'500'000});

  // claude-opus-4-5-... matches both opus globs; the one declared first wins ($5 not $15).
  // 1000 input at $5/M = 5'000'000 nanos.
  auto opus45 = table.price("claude-opus-4-5-20251101", {.input = 1000}, t);
  ASSERT_TRUE(opus45);
  EXPECT_EQ(opus45->model_key, "opus-4-5");
  EXPECT_EQ(opus45->cost, nanos{5'000'000});
  auto opus41 = table.price("claude-opus-4-1-20250805", {.input = 1000}, t);
  ASSERT_TRUE(opus41);
  EXPECT_EQ(opus41->model_key, "opus");
  EXPECT_EQ(opus41->cost, nanos{15'000'000});

  auto haiku = table.price("claude-3-5-haiku-20241022", {.output = 1'000'000}, t);
  ASSERT_TRUE(haiku);
  EXPECT_EQ(haiku->model_key, "haiku");
  EXPECT_EQ(haiku->cost, nanos{1'250'000'000});  // 1M output at $1.25/M
}

TEST(pricing, unknown_model_is_nullopt) {
  pricing_table table;
  EXPECT_FALSE(table.price("sonnet", {.input = 1}, 0));  // empty table
  table.add(sample_version());
  EXPECT_FALSE(table.price("gpt-4o", {.input = 1}, 1'767'225'600'000));
  EXPECT_FALSE(table.price("Sonnet", {.input = 1}, 1'767'225'600'000));
  EXPECT_FALSE(table.price("", {.input = 1}, 1'767'225'600'000));
}

TEST(pricing, version_selected_by_event_time) {
  price_version v1;
  v1.id = "v1";
  v1.effective_from_ms = 1000;
  v1.models["sonnet"] = sonnet;
  v1.models["legacy"] = sonnet;
  price_version v2;
  v2.id = "v2";
  v2.effective_from_ms = 2000;
  v2.models["sonnet"] = make_model_price(nanos{4'000'000'000}, nanos{20'000'000'000});

  pricing_table table;
  table.add(v2);  // out of order on purpose
  table.add(v1);
  ASSERT_EQ(table.versions().size(), 2u);
  EXPECT_EQ(table.versions()[0].id, "v1");
  EXPECT_EQ(table.versions()[1].id, "v2");

  const token_counts t{.input = 1'000'000};
  EXPECT_EQ(table.price("sonnet", t, 1999)->version, "v1");
  EXPECT_EQ(table.price("sonnet", t, 1999)->cost, nanos{3'000'000'000});
  EXPECT_EQ(table.price("sonnet", t, 2000)->version, "v2");  // effective_from is inclusive
  EXPECT_EQ(table.price("sonnet", t, 2000)->cost, nanos{4'000'000'000});
  EXPECT_EQ(table.price("sonnet", t, 99'999)->version, "v2");
  // Before the first version: the first version, not unpriced.
  EXPECT_EQ(table.price("sonnet", t, 5)->version, "v1");
  EXPECT_EQ(table.version_at(5)->id, "v1");
  // The model is looked up in the version in force only.
  EXPECT_TRUE(table.price("legacy", t, 1500));
  EXPECT_FALSE(table.price("legacy", t, 2500));

  // Republishing an id replaces it (and re-sorts by its effective_from).
  v1.effective_from_ms = 3000;
  table.add(v1);
  ASSERT_EQ(table.versions().size(), 2u);
  EXPECT_EQ(table.versions()[1].id, "v1");
  EXPECT_EQ(table.version_at(2500)->id, "v2");
  EXPECT_EQ(table.version_at(3000)->id, "v1");
}

TEST(pricing, derived_id_is_deterministic_and_content_based) {
  price_version a = sample_version();
  a.id.clear();
  price_version b = sample_version();
  b.id = "ignored";  // the id itself is not part of the content
  const std::string id = derive_price_version_id(a);
  EXPECT_EQ(id, derive_price_version_id(b));
  ASSERT_EQ(id.size(), 14u);
  EXPECT_EQ(id.substr(0, 2), "p-");
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef", 2), std::string::npos);

  price_version c = a;
  c.models["sonnet"].output_per_million = nanos{15'000'000'001};  // one nano per million
  EXPECT_NE(derive_price_version_id(c), id);
  price_version d = a;
  std::swap(d.aliases[1], d.aliases[2]);  // alias order changes matching, so it is content
  EXPECT_NE(derive_price_version_id(d), id);

  pricing_table table;
  table.add(a);
  EXPECT_EQ(table.versions().front().id, id);
}

TEST(pricing, codec_is_exact_and_deterministic) {
  price_version v;
  v.id = "p-1";
  v.effective_from_ms = 1'767'225'600'000;
  v.models["haiku"] = make_model_price(nanos{250'000'000}, nanos{1'250'000'000});
  v.aliases = {{"claude-3-5-haiku*", "haiku"}};
  EXPECT_EQ(
      encode_price_version(v),
      R"({"id":"p-1","effective_from_ms":1767225600000,"models":{"haiku":)"
      R"({"input_nanos_per_million":250000000,"output_nanos_per_million":1250000000,)"
      R"("cache_write_nanos_per_million":312500000,"cache_read_nanos_per_million":25000000}},)"
      R"("aliases":[{"glob":"claude-3-5-haiku*","model":"haiku"}]})");

  const price_version full = sample_version();
  auto back = decode_price_version(encode_price_version(full));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, full);
  EXPECT_EQ(encode_price_version(*back), encode_price_version(full));
}

TEST(pricing, decode_fills_defaults_and_derives_id) {
  auto v = decode_price_version(
      R"({"effective_from_ms":0,"models":{"m":{"input_nanos_per_million":3000000000,)"
      R"("output_nanos_per_million":15000000000}}})");
  ASSERT_TRUE(v) << v.error().message();
  EXPECT_EQ(v->models.at("m"), sonnet);
  EXPECT_TRUE(v->aliases.empty());
  EXPECT_EQ(v->id, derive_price_version_id(*v));
  // Values at the edge of int64 survive exactly (no double in between).
  auto edge = decode_price_version(
      R"({"id":"e","effective_from_ms":-9223372036854775808,"models":{"m":)"
      R"({"input_nanos_per_million":9223372036854775807,"output_nanos_per_million":1}}})");
  ASSERT_TRUE(edge) << edge.error().message();
  EXPECT_EQ(edge->effective_from_ms, std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(edge->models.at("m").input_per_million.count, std::numeric_limits<std::int64_t>::max());
}

TEST(pricing, decode_refuses_bad_payloads) {
  const auto err = [](std::string_view json) {
    auto r = decode_price_version(json);
    EXPECT_FALSE(r) << json;
    return r ? pricing_errc::ok : static_cast<pricing_errc>(r.error().value());
  };
  EXPECT_EQ(err("not json"), pricing_errc::syntax);
  EXPECT_EQ(err(R"({"models":{}})"), pricing_errc::missing_field);
  EXPECT_EQ(err(R"({"effective_from_ms":0})"), pricing_errc::missing_field);
  EXPECT_EQ(err(R"({"effective_from_ms":0,"models":{},"extra":1})"), pricing_errc::unknown_field);
  EXPECT_EQ(err(R"({"effective_from_ms":0,"models":{"m":{"input_nanos_per_million":1,)"
                R"("output_nanos_per_million":1,"input_per_milion":5}}})"),
            pricing_errc::unknown_field);
  EXPECT_EQ(err(R"({"effective_from_ms":0,"models":{"m":{"input_nanos_per_million":1.5,)"
                R"("output_nanos_per_million":1}}})"),
            pricing_errc::not_an_integer);
  EXPECT_EQ(err(R"({"effective_from_ms":"0","models":{}})"), pricing_errc::not_an_integer);
  EXPECT_EQ(err(R"({"effective_from_ms":0,"models":{"m":{"input_nanos_per_million":-1,)"
                R"("output_nanos_per_million":1}}})"),
            pricing_errc::negative_price);
  EXPECT_EQ(err(R"({"effective_from_ms":0,"models":{"m":{"input_nanos_per_million":1}}})"),
            pricing_errc::missing_field);
  EXPECT_EQ(err(R"({"effective_from_ms":0,"models":{},"aliases":[{"glob":"x*","model":"y"}]})"),
            pricing_errc::unknown_alias_target);
  EXPECT_EQ(err(R"({"effective_from_ms":0,"effective_from_ms":1,"models":{}})"),
            pricing_errc::duplicate_field);
  EXPECT_EQ(err(R"({"effective_from_ms":0,"models":{}} trailing)"), pricing_errc::syntax);
}

TEST(pricing, validate_catches_bad_hand_built_versions) {
  price_version v = sample_version();
  EXPECT_TRUE(validate_price_version(v));
  v.aliases.emplace_back("gpt-*", "gpt");
  EXPECT_EQ(validate_price_version(v).error(), pricing_errc::unknown_alias_target);
  v = sample_version();
  v.models["sonnet"].cache_read_per_million = nanos{-1};
  EXPECT_EQ(validate_price_version(v).error(), pricing_errc::negative_price);
}

}  // namespace
}  // namespace tally
