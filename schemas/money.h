// Money as an integer count of nano-dollars (1e-9 USD). Decimal text in requests is parsed
// exactly (every RFC 8259 number form, exponents included), never through floating point, and
// rounded half-even to the nano-dollar; amounts are written back as exact decimals. Thread-safety:
// pure functions on values.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/system/result.hpp>

namespace tally {

// An amount of money in nano-dollars. Arithmetic is plain int64; callers that add untrusted
// amounts use checked_add.
struct nanos {
  std::int64_t count = 0;

  friend constexpr auto operator<=>(nanos, nanos) = default;
  friend constexpr nanos operator+(nanos a, nanos b) { return {a.count + b.count}; }
  friend constexpr nanos operator-(nanos a, nanos b) { return {a.count - b.count}; }
  constexpr nanos& operator+=(nanos o) {
    count += o.count;
    return *this;
  }
  constexpr nanos& operator-=(nanos o) {
    count -= o.count;
    return *this;
  }
};

inline constexpr std::int64_t nanos_per_usd = 1'000'000'000;
inline constexpr std::int64_t nanos_per_cent = 10'000'000;

enum class money_errc {
  ok = 0,
  syntax = 1,        // not an RFC 8259 number
  out_of_range = 2,  // does not fit in int64 nano-dollars
};

const boost::system::error_category& money_category() noexcept;
inline boost::system::error_code make_error_code(money_errc e) noexcept {
  return {static_cast<int>(e), money_category()};
}

// Parses the text of a JSON number (as it appears in the document) as US dollars.
// "0.012", "1.2e-2", "12E-3" all give 12'000'000 nanos. Rounds half-even to the nano-dollar.
boost::system::result<nanos> parse_usd(std::string_view json_number);

// Same, for an amount in cents ("monthly_budget_cents": 5000 is $50).
boost::system::result<nanos> parse_cents(std::string_view json_number);

// Exact decimal: up to 9 fractional digits, trailing zeros trimmed ("0.012", "5", "-1.5").
// The result is a valid JSON number.
std::string format_usd(nanos n);

// Adds with overflow detection; false when the sum does not fit.
bool checked_add(nanos a, nanos b, nanos& out) noexcept;

}  // namespace tally

template <>
struct boost::system::is_error_code_enum<tally::money_errc> : std::true_type {};
