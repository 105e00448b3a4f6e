#include "api/roles.h"

namespace tally::api {

std::string_view to_string(role r) {
  switch (r) {
    case role::admin:
      return "admin";
    case role::agent:
      return "agent";
    case role::reader:
      return "reader";
    case role::none:
      break;
  }
  return "none";
}

std::optional<role> role_from_string(std::string_view name) {
  if (name == "admin") return role::admin;
  if (name == "agent") return role::agent;
  if (name == "reader") return role::reader;
  return std::nullopt;
}

}  // namespace tally::api
