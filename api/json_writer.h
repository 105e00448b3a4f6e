// A small JSON text builder for answers: money goes out as exact decimal numbers (format_usd),
// which Boost.JSON's value type cannot hold without passing through double. Strings are escaped
// exactly as Boost.JSON's serializer escapes them. Commas are placed automatically.
// Thread-safety: one writer per answer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "schemas/money.h"

namespace tally::api {

class json_writer {
 public:
  // Room for a usual answer (a budget's is ~1 KB) from the start: growing to it one doubling at
  // a time took seven allocations and copies.
  json_writer() { out_.reserve(1024); }
  json_writer& begin_object();
  json_writer& end_object();
  json_writer& begin_array();
  json_writer& end_array();
  json_writer& key(std::string_view k);
  // The key k + suffix, without building it first.
  json_writer& key(std::string_view k, std::string_view suffix);
  json_writer& string(std::string_view v);
  json_writer& integer(std::int64_t v);
  json_writer& boolean(bool v);
  json_writer& null();
  // An exact decimal number of dollars.
  json_writer& usd(nanos v);
  // Raw JSON text (already valid).
  json_writer& raw(std::string_view json);

  // "k": value shorthands.
  json_writer& field(std::string_view k, std::string_view v) { return key(k).string(v); }
  json_writer& field(std::string_view k, const char* v) { return key(k).string(v); }
  json_writer& field(std::string_view k, std::int64_t v) { return key(k).integer(v); }
  json_writer& field(std::string_view k, int v) { return key(k).integer(v); }
  json_writer& field(std::string_view k, bool v) { return key(k).boolean(v); }
  // "k_usd": exact number and "k_nanos": integer, as every amount is answered.
  json_writer& money(std::string_view k, nanos v);
  // The same, null when absent.
  json_writer& money(std::string_view k, std::optional<nanos> v);

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void comma();
  std::string out_;
  bool need_comma_ = false;
};

}  // namespace tally::api
