#include "schemas/json_fields.h"

#include <boost/json/value.hpp>

namespace tally {

std::string string_field(const boost::json::object& o, std::string_view k, std::string_view dflt) {
  auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->get_string()) : std::string(dflt);
}

std::int64_t int64_field(const boost::json::object& o, std::string_view k, std::int64_t dflt) {
  auto* v = o.if_contains(k);
  return v && v->is_int64() ? v->get_int64() : dflt;
}

bool bool_field(const boost::json::object& o, std::string_view k, bool dflt) {
  auto* v = o.if_contains(k);
  return v && v->is_bool() ? v->get_bool() : dflt;
}

}  // namespace tally
