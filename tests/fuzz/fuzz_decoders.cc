// libFuzzer target for the decoders: the first byte picks one, the rest is its input.
//   0 decode_event: a decoded event encodes and decodes back to the same encoding; and
//     decode_ledger_record: a record decodes as that one event, or a batch that encodes and
//     decodes back to the same events
//   1 decode_usage_report: the same round trip
//   2 parse_usd / parse_cents: checked against a reference (exact decimal arithmetic on the
//     digit string), and format_usd(parse_usd(x)) parses back to the same amount
//   3 request_body: parse and every accessor on every field; api_error is the only refusal
//   4 the JSON guard: check_json_body, is_valid_utf8, json_nesting_depth; what it passes,
//     Boost.JSON parses
//   5 parse_usage_json (Anthropic and OpenAI usage shapes)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "api/json_guard.h"
#include "api/problem.h"
#include "api/request_body.h"
#include "schemas/events.h"
#include "schemas/money.h"
#include "schemas/usage.h"

namespace {

using namespace tally;

void check(bool ok, const char* what, std::string_view input) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_decoders: %s on input of %zu bytes\n", what, input.size());
    std::abort();
  }
}

// The reference: value = digits * 10^scale, rounded half-even to an integer, as a decimal digit
// string (no int128: string arithmetic), or nullopt when the text is not a JSON number.
// out_of_range when the magnitude exceeds 2^63 (negative) or 2^63-1.
enum class ref_result { ok, syntax, out_of_range };

ref_result reference_parse(std::string_view s, int extra_scale, std::int64_t& out) {
  std::size_t i = 0;
  bool negative = false;
  if (i < s.size() && s[i] == '-') negative = true, ++i;
  auto digit = [&](std::size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '9'; };
  if (!digit(i)) return ref_result::syntax;
  std::string digits;
  if (s[i] == '0') {
    ++i;
    if (digit(i)) return ref_result::syntax;  // no leading zeros
  } else {
    while (digit(i)) digits.push_back(s[i++]);
  }
  long long frac = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digit(i)) return ref_result::syntax;
    while (digit(i)) digits.push_back(s[i++]), ++frac;
  }
  long long exp = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool en = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) en = s[i++] == '-';
    if (!digit(i)) return ref_result::syntax;
    while (digit(i)) {
      exp = std::min<long long>(exp * 10 + (s[i] - '0'), 100'000'000'000LL);
      ++i;
    }
    if (en) exp = -exp;
  }
  if (i != s.size()) return ref_result::syntax;
  while (!digits.empty() && digits.front() == '0') digits.erase(digits.begin());
  if (digits.empty()) {
    out = 0;
    return ref_result::ok;
  }
  const long long scale = exp - frac + 9 + extra_scale;
  std::string whole;  // the integer part of the scaled value
  bool round_up = false;
  if (scale >= 0) {
    if (static_cast<long long>(digits.size()) + scale > 25) return ref_result::out_of_range;
    whole = digits + std::string(static_cast<std::size_t>(scale), '0');
  } else {
    const long long keep = static_cast<long long>(digits.size()) + scale;  // may be <= 0
    std::string dropped;
    if (keep > 0) {
      whole = digits.substr(0, static_cast<std::size_t>(keep));
      dropped = digits.substr(static_cast<std::size_t>(keep));
    } else {
      whole = "0";
      dropped = std::string(static_cast<std::size_t>(std::min<long long>(-keep, 30)), '0') + digits;
    }
    const bool half = dropped[0] == '5' && dropped.find_first_not_of('0', 1) == std::string::npos;
    const bool odd = (whole.back() - '0') % 2 == 1;
    round_up = dropped[0] > '5' || (dropped[0] == '5' && !half) || (half && odd);
  }
  while (whole.size() > 1 && whole.front() == '0') whole.erase(whole.begin());
  if (whole.size() > 19) return ref_result::out_of_range;
  // 19 digits at most: fits unsigned 64 bits.
  std::uint64_t mag = std::stoull(whole);
  if (round_up) ++mag;  // 10^19 - 1 + 1 still fits in uint64
  const std::uint64_t limit = (std::uint64_t{1} << 63) - (negative ? 0 : 1);
  if (mag > limit) return ref_result::out_of_range;
  out = negative ? static_cast<std::int64_t>(0 - mag) : static_cast<std::int64_t>(mag);
  return ref_result::ok;
}

void fuzz_money(std::string_view in) {
  for (int cents = 0; cents < 2; ++cents) {
    auto got = cents ? parse_cents(in) : parse_usd(in);
    std::int64_t want = 0;
    const ref_result r = reference_parse(in, cents ? -2 : 0, want);
    if (r == ref_result::ok) {
      check(got.has_value() && got->count == want, "parse differs from the reference", in);
    } else {
      check(!got.has_value(), "parse accepted what the reference refuses", in);
      const auto expected = r == ref_result::syntax ? money_errc::syntax : money_errc::out_of_range;
      check(got.error() == make_error_code(expected), "parse gave another error", in);
    }
    if (got) {
      const std::string text = format_usd(*got);
      auto again = parse_usd(cents ? text : text);
      if (!cents) check(again && again->count == got->count, "format/parse round trip", in);
      check(!boost::json::parse(text).is_null(), "format_usd is not a JSON number", in);
    }
  }
}

void fuzz_ledger_record(std::string_view in) {
  auto events = decode_ledger_record(in);
  if (!events) return;
  check(!events->empty(), "a ledger record decoded to no event", in);
  const std::string once = encode_event_batch(*events);
  auto back = decode_ledger_record(once);
  check(back.has_value() && back->size() == events->size(), "an encoded batch does not decode", in);
  check(encode_event_batch(*back) == once, "batch encoding is not stable", in);
}

void fuzz_event(std::string_view in) {
  fuzz_ledger_record(in);
  auto e = decode_event(in);
  if (!e) return;
  auto record = decode_ledger_record(in);
  check(record.has_value() && record->size() == 1 &&
            encode_event(record->front()) == encode_event(*e),
        "a ledger record of one event is not that event", in);
  const std::string once = encode_event(*e);
  auto back = decode_event(once);
  check(back.has_value(), "an encoded event does not decode", in);
  check(encode_event(*back) == once, "event encoding is not stable", in);
}

void fuzz_report(std::string_view in) {
  auto r = decode_usage_report(in);
  if (!r) return;
  const std::string once = encode_usage_report(*r);
  auto back = decode_usage_report(once);
  check(back.has_value(), "an encoded report does not decode", in);
  check(encode_usage_report(*back) == once, "report encoding is not stable", in);
}

void fuzz_body(std::string_view in) {
  try {
    auto b = api::request_body::parse(in);
    boost::system::error_code ec;
    auto v = boost::json::parse(in, ec);
    if (ec || !v.is_object()) return;
    // A report's token fields read from the parsed fields agree with the document reader.
    auto from_fields = b.usage_fields();
    auto from_text = parse_usage_fields_json(in);
    check(from_fields.has_value() == from_text.has_value(), "usage fields: outcomes differ", in);
    if (from_text) {
      check(
          from_fields->input_tokens == from_text->input_tokens &&
              from_fields->output_tokens == from_text->output_tokens &&
              from_fields->cache_creation_input_tokens == from_text->cache_creation_input_tokens &&
              from_fields->cache_read_input_tokens == from_text->cache_read_input_tokens &&
              from_fields->prompt_tokens == from_text->prompt_tokens &&
              from_fields->completion_tokens == from_text->completion_tokens &&
              from_fields->cached_tokens == from_text->cached_tokens &&
              from_fields->input_cached_tokens == from_text->input_cached_tokens,
          "usage fields: values differ", in);
    } else {
      check(from_fields.error() == from_text.error(), "usage fields: errors differ", in);
    }
    for (auto& [k, _] : v.as_object()) {
      const std::string_view key(k.data(), k.size());
      try {
        (void)b.has(key), (void)b.is_null(key);
      } catch (const api::api_error&) {
      }
      try {
        (void)b.text(key);
      } catch (const api::api_error&) {
      }
      try {
        (void)b.id(key);
      } catch (const api::api_error&) {
      }
      try {
        (void)b.integer(key);
      } catch (const api::api_error&) {
      }
      try {
        (void)b.boolean(key);
      } catch (const api::api_error&) {
      }
      try {
        (void)b.usd(key);
      } catch (const api::api_error&) {
      }
      try {
        (void)b.cents(key);
      } catch (const api::api_error&) {
      }
      try {
        (void)b.strings(key);
      } catch (const api::api_error&) {
      }
      try {
        if (auto objs = b.objects(key)) {
          for (auto& o : *objs) {
            try {
              o.check();
            } catch (const api::api_error&) {
            }
            (void)o.usage_fields();
          }
        }
      } catch (const api::api_error&) {
      }
    }
    try {
      b.allow_only({"a"});
    } catch (const api::api_error&) {
    }
  } catch (const api::api_error&) {
  }
}

void fuzz_guard(std::string_view in) {
  api::http_request req{api::http::verb::post, "/x", 11};
  req.set(api::http::field::content_type, "application/json");
  req.body() = std::string(in);
  req.prepare_payload();
  const bool passed = !api::check_json_body(req).has_value();
  (void)api::is_valid_utf8(in);
  (void)api::json_nesting_depth(in, 64);
  if (passed && !in.empty()) {
    boost::system::error_code ec;
    boost::json::parse_options opt;
    opt.max_depth = 1000;
    (void)boost::json::parse(in, ec, {}, opt);
    check(!ec, "the guard passed a body Boost.JSON refuses", in);
  }
}

void fuzz_usage(std::string_view in) {
  auto t = parse_usage_json(in);
  if (t) {
    check(t->input >= 0 && t->output >= 0 && t->cache_creation >= 0 && t->cache_read >= 0,
          "negative token count", in);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 64 * 1024) return -1;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0:
      fuzz_event(in);
      break;
    case 1:
      fuzz_report(in);
      break;
    case 2:
      fuzz_money(in);
      break;
    case 3:
      fuzz_body(in);
      break;
    case 4:
      fuzz_guard(in);
      break;
    case 5:
      fuzz_usage(in);
      break;
  }
  return 0;
}
