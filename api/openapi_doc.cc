#include "api/openapi_doc.h"

namespace tally::api {

namespace detail {
// Defined in the source CMake generates from schemas/openapi.yaml (generated/openapi_yaml.cc).
std::string_view openapi_yaml_text();
}  // namespace detail

std::string_view openapi_yaml() {
  return detail::openapi_yaml_text();
}

}  // namespace tally::api
