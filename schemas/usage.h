// Token counts of one model call, and their normalisation from the two usage shapes found in
// the field: Anthropic's (input excludes cache) and OpenAI's (cached tokens are a subset of
// prompt tokens). Getting this wrong charges cached tokens twice, so it happens in one place.
// Thread-safety: pure functions on values (parse_usage_json uses a thread_local parser).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <boost/system/result.hpp>

namespace tally {

// Anthropic semantics: `input` excludes both cache buckets, so the four are disjoint and the
// cost is a plain dot product with the four prices.
struct token_counts {
  std::int64_t input = 0;
  std::int64_t output = 0;
  std::int64_t cache_creation = 0;
  std::int64_t cache_read = 0;

  // Sum of the four buckets; saturates at INT64_MAX (normalise_usage refuses counts whose total
  // does not fit, so saturation only happens on hand-built values).
  std::int64_t total() const noexcept;

  friend bool operator==(const token_counts&, const token_counts&) = default;
};

enum class usage_errc {
  ok = 0,
  negative = 1,               // a token count below zero
  cached_exceeds_prompt = 2,  // OpenAI cached_tokens > prompt_tokens (or input_tokens)
  mixed_shapes = 3,           // Anthropic and OpenAI fields in one usage object
  overflow = 4,               // a count, or the total, does not fit in int64
  not_an_integer = 5,         // a token value that is not a JSON integer (1.5, "12", 1e3, true)
  syntax = 6,                 // not JSON, or not an object where one is required
  duplicate_field = 7,        // the same token field twice (in one object or top level + usage)
};

const boost::system::error_category& usage_category() noexcept;
inline boost::system::error_code make_error_code(usage_errc e) noexcept {
  return {static_cast<int>(e), usage_category()};
}

// The token fields as a report carries them, before normalisation. Absent fields are nullopt.
struct raw_usage_fields {
  // Anthropic Messages API.
  std::optional<std::int64_t> input_tokens;
  std::optional<std::int64_t> output_tokens;
  std::optional<std::int64_t> cache_creation_input_tokens;
  std::optional<std::int64_t> cache_read_input_tokens;
  // OpenAI Chat Completions API.
  std::optional<std::int64_t> prompt_tokens;
  std::optional<std::int64_t> completion_tokens;
  std::optional<std::int64_t> cached_tokens;  // prompt_tokens_details.cached_tokens
  // OpenAI Responses API: input_tokens/output_tokens with input_tokens_details.cached_tokens,
  // where (unlike Anthropic) input_tokens *includes* the cached ones. Its presence switches the
  // meaning of input_tokens, which is why it is a separate field.
  std::optional<std::int64_t> input_cached_tokens;  // input_tokens_details.cached_tokens
};

// Normalises either shape to Anthropic semantics. Absent fields count as 0 (a report may carry
// only cost_usd). OpenAI: input = prompt - cached, cache_read = cached, output = completion.
// Errors: negative, cached_exceeds_prompt, mixed_shapes, overflow (of the total).
boost::system::result<token_counts> normalise_usage(const raw_usage_fields& raw);

// Reads the token fields of a JSON object, either at its top level or inside a nested "usage"
// object (not both), and normalises them. Other fields are ignored; null counts as absent.
// Token values must be JSON integers: 1.5, 1e3, "12" give not_an_integer, -1 gives negative.
boost::system::result<raw_usage_fields> parse_usage_fields_json(std::string_view json);
boost::system::result<token_counts> parse_usage_json(std::string_view json);

// The same reading for an object whose top-level fields were parsed already (api/request_body
// reads each report once): its fields are fed in document order, and finish() gives what
// parse_usage_fields_json gives for the object, error for error. Fields that are not token
// fields are ignored.
class usage_fields_reader {
 public:
  enum class kind { null, number, object, other };
  // One top-level field: text is a number's token or an object's JSON text. After an error
  // the reader keeps it and ignores further fields.
  void field(std::string_view name, kind k, std::string_view text);
  boost::system::result<raw_usage_fields> finish() const;

 private:
  raw_usage_fields top_, nested_;
  unsigned top_seen_ = 0, nested_seen_ = 0;
  bool usage_seen_ = false;
  boost::system::error_code error_;
};

}  // namespace tally

template <>
struct boost::system::is_error_code_enum<tally::usage_errc> : std::true_type {};
