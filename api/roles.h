// The names of roles as they appear on the wire (API key records, JWT claims, JSON answers):
// "admin", "agent", "reader". Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string_view>

#include "api/http_types.h"

namespace tally::api {

// "admin" / "agent" / "reader"; role::none is "none" (never accepted by role_from_string).
std::string_view to_string(role r);

// The role of a wire name; nullopt for anything else, "none" included.
std::optional<role> role_from_string(std::string_view name);

}  // namespace tally::api
