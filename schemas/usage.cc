// Usage normalisation and the simdjson reader for usage objects.
#include "schemas/usage.h"

#include <limits>
#include <string>
#include <utility>

#include <simdjson.h>

#include "schemas/padded_json.h"

namespace tally {
namespace {

class usage_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "tally.usage"; }
  std::string message(int ev) const override {
    switch (static_cast<usage_errc>(ev)) {
      case usage_errc::ok:
        return "ok";
      case usage_errc::negative:
        return "token count is negative";
      case usage_errc::cached_exceeds_prompt:
        return "cached_tokens exceeds the prompt/input tokens it is a part of";
      case usage_errc::mixed_shapes:
        return "usage mixes Anthropic fields (input_tokens, cache_*_input_tokens) with OpenAI "
               "fields (prompt_tokens, completion_tokens, *_tokens_details.cached_tokens)";
      case usage_errc::overflow:
        return "token count does not fit in a signed 64-bit integer";
      case usage_errc::not_an_integer:
        return "token count must be a non-negative JSON integer (not a string, fraction or "
               "exponent)";
      case usage_errc::syntax:
        return "usage is not a JSON object";
      case usage_errc::duplicate_field:
        return "token field given twice (or both at the top level and inside \"usage\")";
    }
    return "unknown usage error";
  }
};

// Strict integer text: -?digits, no fraction, no exponent. JSON's own rules (no leading zeros)
// are enforced by treating anything else as not an integer.
boost::system::result<std::int64_t> parse_integer_token(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  bool negative = false;
  if (!s.empty() && s.front() == '-') {
    negative = true;
    s.remove_prefix(1);
  }
  if (s.empty()) return usage_errc::not_an_integer;
  if (s.size() > 1 && s.front() == '0') return usage_errc::not_an_integer;
  std::int64_t value = 0;
  bool overflow = false;
  for (char c : s) {
    if (c < '0' || c > '9') return usage_errc::not_an_integer;
    if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, c - '0', &value))
      overflow = true;
  }
  // A negative number is refused as negative even when it is also too large: the sign is the
  // more useful thing to report.
  if (negative && (value != 0 || overflow)) return usage_errc::negative;
  if (overflow) return usage_errc::overflow;
  return value;
}

using simdjson::ondemand::json_type;

// Bits of raw_usage_fields, to detect a field given twice even when its value was null.
enum field_bit : unsigned {
  bit_input = 1u << 0,
  bit_output = 1u << 1,
  bit_cache_creation = 1u << 2,
  bit_cache_read = 1u << 3,
  bit_prompt = 1u << 4,
  bit_completion = 1u << 5,
  bit_cached = 1u << 6,
  bit_input_cached = 1u << 7,
};

struct field_reader {
  raw_usage_fields fields;
  unsigned seen = 0;

  boost::system::error_code set(unsigned bit, std::optional<std::int64_t>& slot,
                                simdjson::ondemand::value value) {
    if (seen & bit) return usage_errc::duplicate_field;
    seen |= bit;
    json_type type;
    if (value.type().get(type)) return usage_errc::syntax;
    if (type == json_type::null) return {};
    if (type != json_type::number) return usage_errc::not_an_integer;
    auto parsed = parse_integer_token(value.raw_json_token());
    if (!parsed) return parsed.error();
    slot = *parsed;
    return {};
  }
};

// Reads the cached_tokens of a *_tokens_details object; null or absent leaves the slot empty.
boost::system::error_code read_details(simdjson::ondemand::value value, field_reader& reader,
                                       unsigned bit, std::optional<std::int64_t>& slot) {
  json_type type;
  if (value.type().get(type)) return usage_errc::syntax;
  if (type == json_type::null) return {};
  if (type != json_type::object) return usage_errc::syntax;
  simdjson::ondemand::object object;
  if (value.get_object().get(object)) return usage_errc::syntax;
  for (auto field_result : object) {
    simdjson::ondemand::field field;
    if (std::move(field_result).get(field)) return usage_errc::syntax;
    std::string_view key;
    if (field.unescaped_key().get(key)) return usage_errc::syntax;
    if (key == "cached_tokens") {
      if (auto ec = reader.set(bit, slot, field.value())) return ec;
    }
  }
  return {};
}

// Reads the token fields of one object. `nested`, when given, receives a "usage" sub-object.
boost::system::error_code read_object(simdjson::ondemand::object& object, field_reader& reader,
                                      field_reader* nested, bool& nested_seen) {
  auto& f = reader.fields;
  for (auto field_result : object) {
    simdjson::ondemand::field field;
    if (std::move(field_result).get(field)) return usage_errc::syntax;
    std::string_view key;
    if (field.unescaped_key().get(key)) return usage_errc::syntax;
    boost::system::error_code ec;
    if (key == "input_tokens") {
      ec = reader.set(bit_input, f.input_tokens, field.value());
    } else if (key == "output_tokens") {
      ec = reader.set(bit_output, f.output_tokens, field.value());
    } else if (key == "cache_creation_input_tokens") {
      ec = reader.set(bit_cache_creation, f.cache_creation_input_tokens, field.value());
    } else if (key == "cache_read_input_tokens") {
      ec = reader.set(bit_cache_read, f.cache_read_input_tokens, field.value());
    } else if (key == "prompt_tokens") {
      ec = reader.set(bit_prompt, f.prompt_tokens, field.value());
    } else if (key == "completion_tokens") {
      ec = reader.set(bit_completion, f.completion_tokens, field.value());
    } else if (key == "prompt_tokens_details") {
      ec = read_details(field.value(), reader, bit_cached, f.cached_tokens);
    } else if (key == "input_tokens_details") {
      ec = read_details(field.value(), reader, bit_input_cached, f.input_cached_tokens);
    } else if (key == "usage" && nested != nullptr) {
      if (nested_seen) return usage_errc::duplicate_field;
      nested_seen = true;
      simdjson::ondemand::value value = field.value();
      json_type type;
      if (value.type().get(type)) return usage_errc::syntax;
      if (type == json_type::null) continue;
      if (type != json_type::object) return usage_errc::syntax;
      simdjson::ondemand::object sub;
      if (value.get_object().get(sub)) return usage_errc::syntax;
      bool unused = false;
      ec = read_object(sub, *nested, nullptr, unused);
    }
    if (ec) return ec;
  }
  return {};
}

}  // namespace

const boost::system::error_category& usage_category() noexcept {
  static const usage_category_impl instance;
  return instance;
}

std::int64_t token_counts::total() const noexcept {
  std::int64_t sum = 0;
  for (std::int64_t v : {input, output, cache_creation, cache_read}) {
    if (__builtin_add_overflow(sum, v, &sum)) return std::numeric_limits<std::int64_t>::max();
  }
  return sum;
}

boost::system::result<token_counts> normalise_usage(const raw_usage_fields& raw) {
  const std::optional<std::int64_t>* all[] = {&raw.input_tokens,
                                              &raw.output_tokens,
                                              &raw.cache_creation_input_tokens,
                                              &raw.cache_read_input_tokens,
                                              &raw.prompt_tokens,
                                              &raw.completion_tokens,
                                              &raw.cached_tokens,
                                              &raw.input_cached_tokens};
  for (const auto* field : all) {
    if (field->value_or(0) < 0) return usage_errc::negative;
  }
  const bool anthropic_input = raw.input_tokens || raw.output_tokens;
  const bool anthropic_cache = raw.cache_creation_input_tokens || raw.cache_read_input_tokens;
  const bool chat = raw.prompt_tokens || raw.completion_tokens || raw.cached_tokens;
  const bool responses = raw.input_cached_tokens.has_value();
  if (chat && (anthropic_input || anthropic_cache || responses)) return usage_errc::mixed_shapes;
  if (responses && anthropic_cache) return usage_errc::mixed_shapes;

  token_counts t;
  if (chat) {
    const std::int64_t prompt = raw.prompt_tokens.value_or(0);
    const std::int64_t cached = raw.cached_tokens.value_or(0);
    if (cached > prompt) return usage_errc::cached_exceeds_prompt;
    t.input = prompt - cached;
    t.cache_read = cached;
    t.output = raw.completion_tokens.value_or(0);
  } else if (responses) {
    const std::int64_t input = raw.input_tokens.value_or(0);
    const std::int64_t cached = *raw.input_cached_tokens;
    if (cached > input) return usage_errc::cached_exceeds_prompt;
    t.input = input - cached;
    t.cache_read = cached;
    t.output = raw.output_tokens.value_or(0);
  } else {
    t.input = raw.input_tokens.value_or(0);
    t.output = raw.output_tokens.value_or(0);
    t.cache_creation = raw.cache_creation_input_tokens.value_or(0);
    t.cache_read = raw.cache_read_input_tokens.value_or(0);
  }
  // Totals are summed downstream; refuse here rather than let a sum wrap there.
  std::int64_t sum = 0;
  for (std::int64_t v : {t.input, t.output, t.cache_creation, t.cache_read}) {
    if (__builtin_add_overflow(sum, v, &sum)) return usage_errc::overflow;
  }
  return t;
}

boost::system::result<raw_usage_fields> parse_usage_fields_json(std::string_view json) {
  // One parser per thread: it owns buffers sized to the largest document seen so far.
  thread_local padded_parser p;
  simdjson::ondemand::document doc;
  if (p.parser.iterate(p.pad(json)).get(doc)) return usage_errc::syntax;
  simdjson::ondemand::object object;
  if (doc.get_object().get(object)) return usage_errc::syntax;
  field_reader top;
  field_reader nested;
  bool nested_seen = false;
  if (auto ec = read_object(object, top, &nested, nested_seen)) return ec;
  // Trailing content after the object ("{} x") is a malformed document.
  // (current_location() reports OUT_OF_BOUNDS exactly when every token was consumed.)
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) return usage_errc::syntax;
  if (top.seen != 0 && nested.seen != 0) return usage_errc::duplicate_field;
  return nested.seen != 0 ? nested.fields : top.fields;
}

void usage_fields_reader::field(std::string_view name, kind k, std::string_view text) {
  if (error_) return;
  struct token_field {
    std::string_view name;
    unsigned bit;
    std::optional<std::int64_t> raw_usage_fields::*slot;
  };
  static constexpr token_field tokens[] = {
      {"input_tokens", bit_input, &raw_usage_fields::input_tokens},
      {"output_tokens", bit_output, &raw_usage_fields::output_tokens},
      {"cache_creation_input_tokens", bit_cache_creation,
       &raw_usage_fields::cache_creation_input_tokens},
      {"cache_read_input_tokens", bit_cache_read, &raw_usage_fields::cache_read_input_tokens},
      {"prompt_tokens", bit_prompt, &raw_usage_fields::prompt_tokens},
      {"completion_tokens", bit_completion, &raw_usage_fields::completion_tokens},
  };
  for (const auto& t : tokens) {
    if (name != t.name) continue;
    // As field_reader::set: a second time is a duplicate, null counts as given.
    if (top_seen_ & t.bit) {
      error_ = usage_errc::duplicate_field;
      return;
    }
    top_seen_ |= t.bit;
    if (k == kind::null) return;
    if (k != kind::number) {
      error_ = usage_errc::not_an_integer;
      return;
    }
    auto parsed = parse_integer_token(text);
    if (!parsed) {
      error_ = parsed.error();
      return;
    }
    top_.*(t.slot) = *parsed;
    return;
  }
  const bool details = name == "prompt_tokens_details" || name == "input_tokens_details";
  if (!details && name != "usage") return;
  if (name == "usage") {
    if (usage_seen_) {
      error_ = usage_errc::duplicate_field;
      return;
    }
    usage_seen_ = true;
  }
  if (k == kind::null) return;
  if (k != kind::object) {
    error_ = usage_errc::syntax;
    return;
  }
  // An object (rare in reports): read by the document reader, as parse_usage_fields_json does.
  thread_local padded_parser p;
  simdjson::ondemand::document doc;
  simdjson::ondemand::value value;
  if (p.parser.iterate(p.pad(text)).get(doc) || doc.get_value().get(value)) {
    error_ = usage_errc::syntax;
    return;
  }
  if (name == "usage") {
    simdjson::ondemand::object object;
    if (value.get_object().get(object)) {
      error_ = usage_errc::syntax;
      return;
    }
    field_reader nested;
    bool unused = false;
    error_ = read_object(object, nested, nullptr, unused);
    nested_ = nested.fields;
    nested_seen_ = nested.seen;
    return;
  }
  field_reader reader;
  reader.fields = top_;
  reader.seen = top_seen_;
  const bool prompt = name == "prompt_tokens_details";
  error_ = read_details(value, reader, prompt ? bit_cached : bit_input_cached,
                        prompt ? reader.fields.cached_tokens : reader.fields.input_cached_tokens);
  top_ = reader.fields;
  top_seen_ = reader.seen;
}

boost::system::result<raw_usage_fields> usage_fields_reader::finish() const {
  if (error_) return error_;
  if (top_seen_ != 0 && nested_seen_ != 0) return usage_errc::duplicate_field;
  return nested_seen_ != 0 ? nested_ : top_;
}

boost::system::result<token_counts> parse_usage_json(std::string_view json) {
  auto raw = parse_usage_fields_json(json);
  if (!raw) return raw.error();
  return normalise_usage(*raw);
}

}  // namespace tally
