// Exact decimal <-> nano-dollar conversion.
//
// Grammar accepted (RFC 8259 section 6):
//   number := [ '-' ] int [ frac ] [ exp ]
//   int    := '0' | digit1-9 *digit
//   frac   := '.' 1*digit
//   exp    := ('e' | 'E') [ '+' | '-' ] 1*digit
// The value is digits * 10^scale with scale = exp - len(frac) + 9 (nanos); digits dropped by a
// negative scale are rounded half-even.
#include "schemas/money.h"

#include <algorithm>
#include <limits>

namespace tally {
namespace {

class money_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "tally.money"; }
  std::string message(int ev) const override {
    switch (static_cast<money_errc>(ev)) {
      case money_errc::ok:
        return "ok";
      case money_errc::syntax:
        return "not a JSON number";
      case money_errc::out_of_range:
        return "amount out of range";
    }
    return "unknown money error";
  }
};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

boost::system::result<nanos> parse_scaled(std::string_view s, int extra_scale) {
  std::size_t i = 0;
  bool negative = false;
  if (i < s.size() && s[i] == '-') {
    negative = true;
    ++i;
  }
  if (i >= s.size() || !is_digit(s[i])) return money_errc::syntax;
  std::string digits;
  digits.reserve(s.size());
  if (s[i] == '0') {
    ++i;
  } else {
    while (i < s.size() && is_digit(s[i])) digits.push_back(s[i++]);
  }
  long long frac_len = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (i >= s.size() || !is_digit(s[i])) return money_errc::syntax;
    while (i < s.size() && is_digit(s[i])) {
      digits.push_back(s[i++]);
      ++frac_len;
    }
  }
  long long exp = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) exp_negative = s[i++] == '-';
    if (i >= s.size() || !is_digit(s[i])) return money_errc::syntax;
    while (i < s.size() && is_digit(s[i])) {
      // Saturate: any exponent beyond a few thousand is already out of range or zero.
      if (exp < 1'000'000'000) exp = exp * 10 + (s[i] - '0');
      ++i;
    }
    if (exp_negative) exp = -exp;
  }
  if (i != s.size()) return money_errc::syntax;

  // Strip leading zeros ("0.012" leaves "12").
  auto first = digits.find_first_not_of('0');
  if (first == std::string::npos) return nanos{0};
  digits.erase(0, first);

  long long scale = exp - frac_len + 9 + extra_scale;
  constexpr __int128 limit = std::numeric_limits<std::int64_t>::max();
  __int128 value = 0;
  if (scale >= 0) {
    if (static_cast<long long>(digits.size()) + scale > 19) return money_errc::out_of_range;
    for (char c : digits) value = value * 10 + (c - '0');
    for (long long k = 0; k < scale; ++k) value *= 10;
  } else {
    long long drop = -scale;
    long long keep = static_cast<long long>(digits.size()) - drop;
    if (keep > 19) return money_errc::out_of_range;
    for (long long k = 0; k < keep; ++k) value = value * 10 + (digits[k] - '0');
    // Rounding half-even on the dropped digits.
    char first_dropped = keep >= 0 ? digits[keep] : '0';
    bool rest_nonzero = false;
    if (keep >= 0) {
      rest_nonzero =
          std::any_of(digits.begin() + keep + 1, digits.end(), [](char c) { return c != '0'; });
    } else {
      // Every digit is below the half: the value is under 0.5 nano.
      first_dropped = '0';
      rest_nonzero = true;
    }
    bool round_up =
        first_dropped > '5' || (first_dropped == '5' && (rest_nonzero || value % 2 == 1));
    if (round_up) ++value;
  }
  // The magnitude of INT64_MIN is one more than INT64_MAX: "-9223372036.854775808" fits.
  if (value > limit + (negative ? 1 : 0)) return money_errc::out_of_range;
  return nanos{static_cast<std::int64_t>(negative ? -value : value)};
}

}  // namespace

const boost::system::error_category& money_category() noexcept {
  static const money_category_impl instance;
  return instance;
}

boost::system::result<nanos> parse_usd(std::string_view json_number) {
  return parse_scaled(json_number, 0);
}

boost::system::result<nanos> parse_cents(std::string_view json_number) {
  return parse_scaled(json_number, -2);
}

std::string format_usd(nanos n) {
  // Work in unsigned 128-bit so INT64_MIN has a magnitude.
  bool negative = n.count < 0;
  unsigned __int128 mag = negative ? -static_cast<__int128>(n.count) : n.count;
  auto whole = static_cast<std::uint64_t>(mag / nanos_per_usd);
  auto frac = static_cast<std::uint64_t>(mag % nanos_per_usd);
  std::string out;
  if (negative) out.push_back('-');
  out += std::to_string(whole);
  if (frac != 0) {
    std::string f = std::to_string(frac);
    f.insert(0, 9 - f.size(), '0');
    while (f.back() == '0') f.pop_back();
    out.push_back('.');
    out += f;
  }
  return out;
}

bool checked_add(nanos a, nanos b, nanos& out) noexcept {
  return !__builtin_add_overflow(a.count, b.count, &out.count);
}

}  // namespace tally
