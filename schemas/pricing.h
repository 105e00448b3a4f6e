// The pricing table: per-model prices in integer nano-dollars per million tokens, in versions
// with an effective_from time, matched by exact model key or glob alias; and the JSON codec of
// one version, which is the payload of the pricing control event.
// Thread-safety: pricing_table is a plain value (const methods may run concurrently; add() needs
// exclusive access). Free functions are pure.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/system/result.hpp>

#include "schemas/money.h"
#include "schemas/usage.h"

namespace tally {

// Nano-dollars per million tokens; $3/M is {3'000'000'000}. Per-token prices are not integers
// in nanos ($3/M is 3 nanos/token but $0.25/M is 0.25), so prices stay per million and the
// division happens once, at the end of the cost computation.
struct model_price {
  nanos input_per_million;
  nanos output_per_million;
  nanos cache_write_per_million;
  nanos cache_read_per_million;

  friend bool operator==(const model_price&, const model_price&) = default;
};

// Anthropic's published multipliers for prompt caching (5-minute cache writes): a cache write
// costs 1.25x the input price and a cache read 0.1x. Computed exactly in integers, rounded
// half-even to the nano-dollar per million.
nanos default_cache_write_price(nanos input_per_million);
nanos default_cache_read_price(nanos input_per_million);
model_price make_model_price(nanos input_per_million, nanos output_per_million,
                             std::optional<nanos> cache_write_per_million = std::nullopt,
                             std::optional<nanos> cache_read_per_million = std::nullopt);

struct price_version {
  std::string id;                      // empty = derive_price_version_id() when added to a table
  std::int64_t effective_from_ms = 0;  // UTC milliseconds since the epoch
  std::map<std::string, model_price> models;
  // (glob, model key), tried in declaration order after the exact keys. Globs know `*` (any
  // run, also empty) and `?` (one character); every other character matches itself.
  std::vector<std::pair<std::string, std::string>> aliases;

  friend bool operator==(const price_version&, const price_version&) = default;
};

// "p-" + the first 12 hex digits of SHA-256 over the canonical JSON of the version without its
// id: publishing the same configuration twice yields the same id.
std::string derive_price_version_id(const price_version& v);

// True when `text` matches `glob` (`*`, `?`, literal everything else). Case-sensitive.
bool glob_match(std::string_view glob, std::string_view text) noexcept;

class pricing_table {
 public:
  // Keeps versions sorted by effective_from. A version whose id is already present replaces it
  // (republishing is idempotent); among equal effective_from, the one added last wins. An empty
  // id is derived from the content.
  void add(price_version v);

  struct priced {
    nanos cost;
    std::string version;     // price_version::id
    std::string model_key;   // the key in price_version::models the model id resolved to
    bool saturated = false;  // the exact cost did not fit in int64; cost is clamped to it
  };

  // The cost of `t` tokens of `model_id` at event time `at_ms`:
  //   round_half_even((input*in + output*out + cache_creation*cw + cache_read*cr) / 1e6)
  // computed exactly in 128 bits with one rounding at the end. A cost beyond int64 saturates
  // (and says so) rather than failing: it is far beyond any budget, so the decision is the same.
  // nullopt: no version, or the model is unknown in the version in force (the caller accepts
  // the usage with cost 0, flagged unpriced). The model is looked up only in that version.
  std::optional<priced> price(std::string_view model_id, const token_counts& t,
                              std::int64_t at_ms) const;

  // The version in force at `at_ms`: the latest with effective_from <= at_ms. Before the first
  // version, the first one: a late or clock-skewed report is better priced at the oldest known
  // price than left unpriced. nullptr only when the table is empty.
  const price_version* version_at(std::int64_t at_ms) const;

  const std::vector<price_version>& versions() const { return versions_; }

 private:
  std::vector<price_version> versions_;
};

// Resolves a model id within one version: exact key, then aliases in order. nullptr if none,
// or if the alias names a key the version does not have.
const std::string* resolve_model_key(const price_version& v, std::string_view model_id);

// Exact cost of `t` at price `p`; see pricing_table::price. `saturated` is set on overflow.
nanos compute_cost(const model_price& p, const token_counts& t, bool* saturated = nullptr);

enum class pricing_errc {
  ok = 0,
  syntax = 1,                // not JSON, or a value of the wrong JSON type
  missing_field = 2,         // a required field is absent
  unknown_field = 3,         // a field this version of the codec does not know
  negative_price = 4,        // a price below zero
  unknown_alias_target = 5,  // an alias names a model key the version does not define
  not_an_integer = 6,        // an integer field holds a fraction, exponent or out-of-range value
  duplicate_field = 7,       // the same key twice in one object
  empty_key = 8,             // an empty model key or glob
};

const boost::system::error_category& pricing_category() noexcept;
inline boost::system::error_code make_error_code(pricing_errc e) noexcept {
  return {static_cast<int>(e), pricing_category()};
}

// Checks prices are non-negative, keys and globs non-empty, alias targets defined.
boost::system::result<void> validate_price_version(const price_version& v);

// {"id":...,"effective_from_ms":...,"models":{"<key>":{"input_nanos_per_million":...,
//  "output_nanos_per_million":...,"cache_write_nanos_per_million":...,
//  "cache_read_nanos_per_million":...}},"aliases":[{"glob":...,"model":...}]}
// Fields in that order, models sorted by key, aliases in declaration order; every amount an
// exact JSON integer.
std::string encode_price_version(const price_version& v);

// The inverse. Unknown fields are refused (a misspelt price must not read as 0); "aliases" may
// be absent; a missing "id" is derived. The result passes validate_price_version.
boost::system::result<price_version> decode_price_version(std::string_view json);

}  // namespace tally

template <>
struct boost::system::is_error_code_enum<tally::pricing_errc> : std::true_type {};
