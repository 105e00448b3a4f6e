// Pricing: exact cost arithmetic, glob aliases, version selection, and the version codec.
#include "schemas/pricing.h"

#include <algorithm>
#include <array>
#include <limits>
#include <set>
#include <stdexcept>

#include <simdjson.h>
#include <boost/json.hpp>

#include "schemas/sha256.h"

namespace tally {
namespace {

class pricing_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "tally.pricing"; }
  std::string message(int ev) const override {
    switch (static_cast<pricing_errc>(ev)) {
      case pricing_errc::ok:
        return "ok";
      case pricing_errc::syntax:
        return "price version is not well-formed JSON of the right types";
      case pricing_errc::missing_field:
        return "price version lacks a required field";
      case pricing_errc::unknown_field:
        return "price version has an unknown field";
      case pricing_errc::negative_price:
        return "price is negative";
      case pricing_errc::unknown_alias_target:
        return "alias names a model key the price version does not define";
      case pricing_errc::not_an_integer:
        return "expected a JSON integer that fits in int64";
      case pricing_errc::duplicate_field:
        return "the same key appears twice";
      case pricing_errc::empty_key:
        return "empty model key or alias glob";
    }
    return "unknown pricing error";
  }
};

// n / d rounded half-even; d > 0.
__int128 div_round_half_even(__int128 n, __int128 d) {
  __int128 q = n / d;
  __int128 r = n % d;  // same sign as n
  __int128 twice = (r < 0 ? -r : r) * 2;
  if (twice > d || (twice == d && q % 2 != 0)) q += n < 0 ? -1 : 1;
  return q;
}

nanos clamp_to_nanos(__int128 v) {
  constexpr __int128 hi = std::numeric_limits<std::int64_t>::max();
  constexpr __int128 lo = std::numeric_limits<std::int64_t>::min();
  return nanos{static_cast<std::int64_t>(std::clamp(v, lo, hi))};
}

boost::json::object to_json(const price_version& v, bool with_id) {
  boost::json::object o;
  if (with_id) o["id"] = v.id;
  o["effective_from_ms"] = v.effective_from_ms;
  boost::json::object models;
  for (const auto& [key, p] : v.models) {
    boost::json::object m;
    m["input_nanos_per_million"] = p.input_per_million.count;
    m["output_nanos_per_million"] = p.output_per_million.count;
    m["cache_write_nanos_per_million"] = p.cache_write_per_million.count;
    m["cache_read_nanos_per_million"] = p.cache_read_per_million.count;
    models[key] = std::move(m);
  }
  o["models"] = std::move(models);
  boost::json::array aliases;
  for (const auto& [glob, model] : v.aliases) {
    boost::json::object a;
    a["glob"] = glob;
    a["model"] = model;
    aliases.push_back(std::move(a));
  }
  o["aliases"] = std::move(aliases);
  return o;
}

// ---- decoding ----

using simdjson::ondemand::json_type;

boost::system::result<std::int64_t> read_int64(simdjson::ondemand::value value) {
  json_type type;
  if (value.type().get(type)) return pricing_errc::syntax;
  if (type != json_type::number) return pricing_errc::not_an_integer;
  std::string_view s = value.raw_json_token();
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  bool negative = !s.empty() && s.front() == '-';
  if (negative) s.remove_prefix(1);
  if (s.empty() || (s.size() > 1 && s.front() == '0')) return pricing_errc::not_an_integer;
  // Accumulate negatively so INT64_MIN is representable.
  std::int64_t acc = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return pricing_errc::not_an_integer;
    if (__builtin_mul_overflow(acc, 10, &acc) || __builtin_sub_overflow(acc, c - '0', &acc))
      return pricing_errc::not_an_integer;
  }
  if (negative) return acc;
  if (acc == std::numeric_limits<std::int64_t>::min()) return pricing_errc::not_an_integer;
  return -acc;
}

boost::system::result<std::string> read_string(simdjson::ondemand::value value) {
  std::string_view s;
  if (value.get_string().get(s)) return pricing_errc::syntax;
  return std::string(s);
}

// Calls fn(key, value) for each field, refusing duplicate keys.
template <typename Fn>
boost::system::error_code for_each_field(simdjson::ondemand::value value, Fn&& fn) {
  simdjson::ondemand::object object;
  if (value.get_object().get(object)) return pricing_errc::syntax;
  std::set<std::string, std::less<>> seen;
  for (auto field_result : object) {
    simdjson::ondemand::field field;
    if (std::move(field_result).get(field)) return pricing_errc::syntax;
    std::string_view key;
    if (field.unescaped_key().get(key)) return pricing_errc::syntax;
    if (!seen.emplace(key).second) return pricing_errc::duplicate_field;
    if (auto ec = fn(key, field.value())) return ec;
  }
  return {};
}

boost::system::result<model_price> read_model(simdjson::ondemand::value value) {
  std::optional<nanos> in, out, cw, cr;
  auto ec = for_each_field(
      value, [&](std::string_view key, simdjson::ondemand::value v) -> boost::system::error_code {
        std::optional<nanos>* slot = nullptr;
        if (key == "input_nanos_per_million") {
          slot = &in;
        } else if (key == "output_nanos_per_million") {
          slot = &out;
        } else if (key == "cache_write_nanos_per_million") {
          slot = &cw;
        } else if (key == "cache_read_nanos_per_million") {
          slot = &cr;
        } else {
          return pricing_errc::unknown_field;
        }
        auto n = read_int64(v);
        if (!n) return n.error();
        *slot = nanos{*n};
        return {};
      });
  if (ec) return ec;
  if (!in || !out) return pricing_errc::missing_field;
  return make_model_price(*in, *out, cw, cr);
}

boost::system::result<std::pair<std::string, std::string>> read_alias(
    simdjson::ondemand::value value) {
  std::optional<std::string> glob, model;
  auto ec = for_each_field(
      value, [&](std::string_view key, simdjson::ondemand::value v) -> boost::system::error_code {
        std::optional<std::string>* slot = nullptr;
        if (key == "glob") {
          slot = &glob;
        } else if (key == "model") {
          slot = &model;
        } else {
          return pricing_errc::unknown_field;
        }
        auto s = read_string(v);
        if (!s) return s.error();
        *slot = std::move(*s);
        return {};
      });
  if (ec) return ec;
  if (!glob || !model) return pricing_errc::missing_field;
  return std::pair{std::move(*glob), std::move(*model)};
}

}  // namespace

const boost::system::error_category& pricing_category() noexcept {
  static const pricing_category_impl instance;
  return instance;
}

nanos default_cache_write_price(nanos input_per_million) {
  return clamp_to_nanos(div_round_half_even(static_cast<__int128>(input_per_million.count) * 5, 4));
}

nanos default_cache_read_price(nanos input_per_million) {
  return clamp_to_nanos(div_round_half_even(input_per_million.count, 10));
}

model_price make_model_price(nanos input_per_million, nanos output_per_million,
                             std::optional<nanos> cache_write_per_million,
                             std::optional<nanos> cache_read_per_million) {
  return model_price{input_per_million, output_per_million,
                     cache_write_per_million.value_or(default_cache_write_price(input_per_million)),
                     cache_read_per_million.value_or(default_cache_read_price(input_per_million))};
}

bool glob_match(std::string_view glob, std::string_view text) noexcept {
  // Greedy with backtracking to the last `*`: linear in practice, O(n*m) worst case.
  std::size_t g = 0, t = 0;
  std::size_t star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (g < glob.size() && (glob[g] == '?' || glob[g] == text[t])) {
      ++g;
      ++t;
    } else if (g < glob.size() && glob[g] == '*') {
      star = g++;
      resume = t;
    } else if (star != std::string_view::npos) {
      g = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

const std::string* resolve_model_key(const price_version& v, std::string_view model_id) {
  if (auto it = v.models.find(std::string(model_id)); it != v.models.end()) return &it->first;
  for (const auto& [glob, key] : v.aliases) {
    if (!glob_match(glob, model_id)) continue;
    auto it = v.models.find(key);
    return it == v.models.end() ? nullptr : &it->first;
  }
  return nullptr;
}

nanos compute_cost(const model_price& p, const token_counts& t, bool* saturated) {
  const std::array<std::pair<std::int64_t, std::int64_t>, 4> terms{{
      {t.input, p.input_per_million.count},
      {t.output, p.output_per_million.count},
      {t.cache_creation, p.cache_write_per_million.count},
      {t.cache_read, p.cache_read_per_million.count},
  }};
  // Each product is below 2^126 in magnitude; only the sum of four can leave __int128.
  __int128 sum = 0;
  bool overflow = false;
  for (const auto& [tokens, price] : terms) {
    __int128 product = static_cast<__int128>(tokens) * price;
    if (__builtin_add_overflow(sum, product, &sum)) {
      overflow = true;
      sum =
          product < 0 ? std::numeric_limits<__int128>::min() : std::numeric_limits<__int128>::max();
      break;
    }
  }
  __int128 cost = overflow ? sum : div_round_half_even(sum, 1'000'000);
  nanos result = clamp_to_nanos(cost);
  if (saturated != nullptr) *saturated = overflow || result.count != cost;
  return result;
}

std::string derive_price_version_id(const price_version& v) {
  const std::string canonical = boost::json::serialize(to_json(v, /*with_id=*/false));
  return "p-" + sha256_hex(canonical, 12);
}

void pricing_table::add(price_version v) {
  if (v.id.empty()) v.id = derive_price_version_id(v);
  std::erase_if(versions_, [&](const price_version& x) { return x.id == v.id; });
  auto at = std::upper_bound(
      versions_.begin(), versions_.end(), v.effective_from_ms,
      [](std::int64_t from, const price_version& x) { return from < x.effective_from_ms; });
  versions_.insert(at, std::move(v));
}

const price_version* pricing_table::version_at(std::int64_t at_ms) const {
  if (versions_.empty()) return nullptr;
  auto it = std::upper_bound(
      versions_.begin(), versions_.end(), at_ms,
      [](std::int64_t at, const price_version& x) { return at < x.effective_from_ms; });
  if (it == versions_.begin()) return &versions_.front();
  return &*std::prev(it);
}

std::optional<pricing_table::priced> pricing_table::price(std::string_view model_id,
                                                          const token_counts& t,
                                                          std::int64_t at_ms) const {
  const price_version* v = version_at(at_ms);
  if (v == nullptr) return std::nullopt;
  const std::string* key = resolve_model_key(*v, model_id);
  if (key == nullptr) return std::nullopt;
  priced out;
  out.cost = compute_cost(v->models.at(*key), t, &out.saturated);
  out.version = v->id;
  out.model_key = *key;
  return out;
}

boost::system::result<void> validate_price_version(const price_version& v) {
  for (const auto& [key, p] : v.models) {
    if (key.empty()) return pricing_errc::empty_key;
    if (p.input_per_million.count < 0 || p.output_per_million.count < 0 ||
        p.cache_write_per_million.count < 0 || p.cache_read_per_million.count < 0) {
      return pricing_errc::negative_price;
    }
  }
  for (const auto& [glob, key] : v.aliases) {
    if (glob.empty()) return pricing_errc::empty_key;
    if (!v.models.contains(key)) return pricing_errc::unknown_alias_target;
  }
  return {};
}

std::string encode_price_version(const price_version& v) {
  return boost::json::serialize(to_json(v, /*with_id=*/true));
}

boost::system::result<price_version> decode_price_version(std::string_view json) {
  thread_local simdjson::ondemand::parser parser;
  simdjson::padded_string padded(json);
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc)) return pricing_errc::syntax;
  simdjson::ondemand::value root;
  if (doc.get_value().get(root)) return pricing_errc::syntax;

  price_version v;
  bool have_from = false, have_models = false;
  auto ec = for_each_field(
      root,
      [&](std::string_view key, simdjson::ondemand::value value) -> boost::system::error_code {
        if (key == "id") {
          auto s = read_string(value);
          if (!s) return s.error();
          v.id = std::move(*s);
        } else if (key == "effective_from_ms") {
          auto n = read_int64(value);
          if (!n) return n.error();
          v.effective_from_ms = *n;
          have_from = true;
        } else if (key == "models") {
          have_models = true;
          return for_each_field(value,
                                [&](std::string_view model_key,
                                    simdjson::ondemand::value m) -> boost::system::error_code {
                                  auto price = read_model(m);
                                  if (!price) return price.error();
                                  v.models.emplace(std::string(model_key), *price);
                                  return {};
                                });
        } else if (key == "aliases") {
          simdjson::ondemand::array array;
          if (value.get_array().get(array)) return pricing_errc::syntax;
          for (auto element : array) {
            simdjson::ondemand::value a;
            if (std::move(element).get(a)) return pricing_errc::syntax;
            auto alias = read_alias(a);
            if (!alias) return alias.error();
            v.aliases.push_back(std::move(*alias));
          }
        } else {
          return pricing_errc::unknown_field;
        }
        return {};
      });
  if (ec) return ec;
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) return pricing_errc::syntax;
  if (!have_from || !have_models) return pricing_errc::missing_field;
  if (auto ok = validate_price_version(v); !ok) return ok.error();
  if (v.id.empty()) v.id = derive_price_version_id(v);
  return v;
}

}  // namespace tally
