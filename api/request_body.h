// A JSON request body read once into its top-level fields, with typed accessors that keep money
// exact: numbers stay the text of their token until parse_usd/parse_cents read them (RFC 8259
// forms: 0.012, 1.2e-2, 12E-3), never through double. A field of the wrong type, an unknown
// field or a body that is not one JSON object throws api_error (400 / 422) naming the field.
// Thread-safety: values (copies share the body's text, read-only); parse uses a thread_local
// simdjson parser.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <absl/container/inlined_vector.h>

#include "api/problem.h"
#include "schemas/money.h"
#include "schemas/usage.h"

namespace tally::api {

class request_body {
 public:
  // An empty body reads as an empty object.
  static request_body parse(std::string_view json);

  bool has(std::string_view k) const { return find(k) != nullptr; }
  // Present and JSON null (for PATCH: remove).
  bool is_null(std::string_view k) const;
  // Absent or null: nullopt. Wrong type: api_error 422.
  std::optional<std::string> text(std::string_view k) const;
  std::optional<std::string> id(std::string_view k) const;  // string, or integer (task 594)
  std::optional<std::int64_t> integer(std::string_view k) const;
  std::optional<bool> boolean(std::string_view k) const;
  std::optional<nanos> usd(std::string_view k) const;    // exact, half-even to the nano
  std::optional<nanos> cents(std::string_view k) const;  // exact
  std::optional<std::vector<std::string>> strings(std::string_view k) const;
  // An array of objects, each read with this body (no second parse): a view into this body,
  // good while it lives. An object that failed on its own (a field twice) keeps its error for
  // check() to throw, so a batch refuses that item alone.
  std::optional<std::span<const request_body>> objects(std::string_view k) const;
  // Throws the error this body (an item of objects()) met while it was read, if any.
  void check() const;
  // Refuses (422 unknown_field) the first field not allowed: a typo in a limit must not pass.
  void allow_only(std::initializer_list<std::string_view> allowed) const;
  // The same against a set kept by the caller (a hot path's long list): names grouped by length,
  // so a lookup compares a field's name with the few allowed names as long as it (a hash set
  // spent ~160 instructions per field hashing it).
  class field_set {
   public:
    field_set(std::initializer_list<std::string_view> names);
    bool contains(std::string_view name) const;

   private:
    static constexpr std::size_t max_length = 48;  // longer names: none allowed
    std::array<std::vector<std::string_view>, max_length + 1> by_length_;
  };
  void allow_only(const field_set& allowed) const;

  // The token fields of a usage report (top level or in "usage"), read from the fields parsed
  // already: what parse_usage_fields_json gives for the same body, error for error.
  boost::system::result<raw_usage_fields> usage_fields() const;

 private:
  struct field {
    // s string, n number, b bool, z null, a array of strings, A other array, O array of objects,
    // o object
    char kind = 'z';
    std::string_view text;  // unescaped string, number token, "true"/"false", object text
    std::vector<std::string_view> items;
    // kind 'O' (behind a pointer: a member of request_body's own type is incomplete here)
    std::shared_ptr<std::vector<request_body>> objects;
  };
  class reader;
  const field* find(std::string_view k) const;
  // The body's text and every unescaped string read from it, in one buffer that never grows
  // once filled (its size is fixed before the parse): the fields' names and texts are views into
  // it, shared by the body and the items of its arrays. No string is allocated per field.
  std::shared_ptr<std::string> text_;
  absl::InlinedVector<std::pair<std::string_view, field>, 8> fields_;
  std::optional<api_error> error_;  // an item's own error (see check())
};

}  // namespace tally::api
