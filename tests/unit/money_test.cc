// Exact money: every RFC 8259 number form parsed to nano-dollars with half-even rounding,
// never through double, and the exact formatter that writes them back.
#include "schemas/money.h"

#include <cstdint>
#include <limits>
#include <random>

#include <gtest/gtest.h>

namespace tally {
namespace {

constexpr std::int64_t max_i64 = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t min_i64 = std::numeric_limits<std::int64_t>::min();

// The nano-dollars of `text`, or a marker that fails the comparison with the error's name.
std::int64_t usd(std::string_view text) {
  auto r = parse_usd(text);
  EXPECT_TRUE(r) << "parse_usd(\"" << text << "\"): " << r.error().message();
  return r ? r->count : -424242;
}

money_errc usd_error(std::string_view text) {
  auto r = parse_usd(text);
  if (r) return money_errc::ok;
  EXPECT_EQ(&r.error().category(), &money_category());
  return static_cast<money_errc>(r.error().value());
}

TEST(money, parses_every_json_number_form) {
  EXPECT_EQ(usd("0.012"), 12'000'000);       // 0.012 * 1e9
  EXPECT_EQ(usd("1.2e-2"), 12'000'000);      // same value, exponent form
  EXPECT_EQ(usd("12E-3"), 12'000'000);       // capital E, no fraction
  EXPECT_EQ(usd("1.2E+1"), 12'000'000'000);  // 12 USD
  EXPECT_EQ(usd("-0"), 0);
  EXPECT_EQ(usd("0e5"), 0);
  EXPECT_EQ(usd("0"), 0);
  EXPECT_EQ(usd("5"), 5'000'000'000);
  EXPECT_EQ(usd("-1.5"), -1'500'000'000);
  EXPECT_EQ(usd("0.000000001"), 1);  // one nano-dollar
  EXPECT_EQ(usd("1e-9"), 1);
  EXPECT_EQ(usd("123456789.123456789"), 123'456'789'123'456'789);
  EXPECT_EQ(usd("12.5000000000000000000"), 12'500'000'000);  // trailing zeros beyond nanos
  // 0.12345678901234567890123456789 USD = 123456789.01234... nanos; dropped part < half.
  EXPECT_EQ(usd("123456789012345678901234567890e-30"), 123'456'789);
}

TEST(money, rounds_half_even_to_the_nano_dollar) {
  EXPECT_EQ(usd("0.0000000005"), 0);      // 0.5 nano: tie, 0 is even
  EXPECT_EQ(usd("0.0000000015"), 2);      // 1.5 nano: tie, up to even 2
  EXPECT_EQ(usd("0.0000000025"), 2);      // 2.5 nano: tie, down to even 2
  EXPECT_EQ(usd("0.00000000250001"), 3);  // 2.50001 nano: above the tie
  EXPECT_EQ(usd("0.0000000024999"), 2);   // below the tie
  EXPECT_EQ(usd("0.0000000035"), 4);      // 3.5 nano: tie, up to even 4
  EXPECT_EQ(usd("5e-10"), 0);             // exponent form of the 0.5 tie
  EXPECT_EQ(usd("15e-10"), 2);
  EXPECT_EQ(usd("-0.0000000015"), -2);  // symmetric for negatives
  EXPECT_EQ(usd("-0.0000000025"), -2);
  EXPECT_EQ(usd("1e-400"), 0);  // far below half a nano
  EXPECT_EQ(usd("4e-10"), 0);
  EXPECT_EQ(usd("6e-10"), 1);
}

TEST(money, range_is_int64_nano_dollars) {
  EXPECT_EQ(usd("9223372036.854775807"), max_i64);
  EXPECT_EQ(usd("-9223372036.854775807"), -max_i64);
  EXPECT_EQ(usd("9223372036854775807e-9"), max_i64);
  EXPECT_EQ(usd_error("9223372036.854775808"), money_errc::out_of_range);
  EXPECT_EQ(usd_error("1e20"), money_errc::out_of_range);
  EXPECT_EQ(usd_error("1e999999999999999999"), money_errc::out_of_range);  // exponent saturates
  EXPECT_EQ(usd_error("99999999999"), money_errc::out_of_range);
  EXPECT_EQ(usd("0e999999999999999999"), 0);  // zero with any exponent is zero
}

TEST(money, int64_min_is_in_range) {
  // -9223372036.854775808 USD is exactly INT64_MIN nanos and is what format_usd writes for it.
  EXPECT_EQ(usd("-9223372036.854775808"), min_i64);
  EXPECT_EQ(usd_error("-9223372036.854775809"), money_errc::out_of_range);
}

TEST(money, refuses_what_is_not_a_json_number) {
  for (std::string_view bad :
       {"01", ".5", "1.",  "+1",   "1e",  "--1",      "1.5.5", " 1", "1 ",  "NaN",
        "",   "-",  "1e+", "0x10", "1,5", "Infinity", "-.5",   "00", "1E-", "\"1\""}) {
    EXPECT_EQ(usd_error(bad), money_errc::syntax) << "input: \"" << bad << "\"";
  }
}

TEST(money, parse_cents) {
  auto fifty = parse_cents("5000");  // monthly_budget_cents: 5000 is $50
  ASSERT_TRUE(fifty);
  EXPECT_EQ(fifty->count, 50'000'000'000);
  auto half = parse_cents("0.5");  // half a cent = 0.005 USD
  ASSERT_TRUE(half);
  EXPECT_EQ(half->count, 5'000'000);
  auto one = parse_cents("1");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->count, nanos_per_cent);
  auto tie = parse_cents("1.5e-7");  // 1.5e-9 USD = 1.5 nanos, half-even -> 2
  ASSERT_TRUE(tie);
  EXPECT_EQ(tie->count, 2);
  EXPECT_FALSE(parse_cents("1e20"));  // 1e18 USD
  EXPECT_FALSE(parse_cents("5000 "));
}

TEST(money, format_usd_is_exact_and_trimmed) {
  EXPECT_EQ(format_usd(nanos{0}), "0");
  EXPECT_EQ(format_usd(nanos{5'000'000'000}), "5");
  EXPECT_EQ(format_usd(nanos{12'000'000}), "0.012");
  EXPECT_EQ(format_usd(nanos{-1'500'000'000}), "-1.5");
  EXPECT_EQ(format_usd(nanos{1}), "0.000000001");
  EXPECT_EQ(format_usd(nanos{-1}), "-0.000000001");
  EXPECT_EQ(format_usd(nanos{123'456'789'123'456'789}), "123456789.123456789");
  EXPECT_EQ(format_usd(nanos{min_i64}), "-9223372036.854775808");
  EXPECT_EQ(format_usd(nanos{max_i64}), "9223372036.854775807");
}

TEST(money, parse_of_format_round_trips) {
  const std::uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::printf("money round trip seed=%llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  auto check = [](std::int64_t v) {
    auto text = format_usd(nanos{v});
    auto back = parse_usd(text);
    ASSERT_TRUE(back) << v << " -> " << text << ": " << back.error().message();
    EXPECT_EQ(back->count, v) << text;
  };
  for (std::int64_t v : {std::int64_t{0}, std::int64_t{1}, std::int64_t{-1}, max_i64, -max_i64,
                         std::int64_t{999'999'999}, std::int64_t{1'000'000'000}}) {
    check(v);
  }
  for (int i = 0; i < 20'000; ++i) {
    // Mix magnitudes: full-range values and small ones (where trimming matters).
    std::int64_t v = static_cast<std::int64_t>(rng());
    if (i % 2 == 1) v %= std::int64_t{1} << (rng() % 40);
    if (v == min_i64) continue;  // covered by int64_min_is_in_range
    check(v);
  }
}

TEST(money, checked_add_detects_overflow) {
  nanos out;
  EXPECT_TRUE(checked_add(nanos{1}, nanos{2}, out));
  EXPECT_EQ(out.count, 3);
  EXPECT_TRUE(checked_add(nanos{max_i64 - 1}, nanos{1}, out));
  EXPECT_EQ(out.count, max_i64);
  EXPECT_FALSE(checked_add(nanos{max_i64}, nanos{1}, out));
  EXPECT_FALSE(checked_add(nanos{min_i64}, nanos{-1}, out));
}

}  // namespace
}  // namespace tally
