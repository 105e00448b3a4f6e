// Reading the optional fields of stored JSON rows (delivery rows, subscription records, queues):
// a field that is absent or of another type gives the default. Strict readers that refuse such
// input (events) keep their own checks.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace tally {

std::string string_field(const boost::json::object& o, std::string_view k,
                         std::string_view dflt = {});
std::int64_t int64_field(const boost::json::object& o, std::string_view k, std::int64_t dflt = 0);
bool bool_field(const boost::json::object& o, std::string_view k, bool dflt);

}  // namespace tally
