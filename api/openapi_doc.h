// The OpenAPI 3.1 document of the HTTP API (schemas/openapi.yaml), built into the binary and
// served at GET /api/v1/openapi.yaml. tests/unit/openapi_test.cc checks that it names exactly
// the routes the API serves.
// Thread-safety: the text is a constant.
#pragma once

#include <string_view>

namespace tally::api {

// The YAML text of schemas/openapi.yaml as it was when the binary was built.
std::string_view openapi_yaml();

// Its media type.
inline constexpr std::string_view openapi_content_type = "application/yaml";

}  // namespace tally::api
