// request_body: what the fuzz targets (tests/fuzz/) found, as regression tests — a malformed
// body is an api_error (a 400 problem), never another exception.
#include "api/request_body.h"

#include <gtest/gtest.h>

#include "api/problem.h"

namespace tally::api {
namespace {

TEST(request_body, a_malformed_literal_is_an_api_error) {
  for (std::string_view body : {R"({"et_usd": 0.5, "x": null) "j": true})", R"({"x": nul})",
                                R"({"x": nullx})", R"({"x": tru})", R"({"x": true) "y": 1})"}) {
    try {
      (void)request_body::parse(body);
      ADD_FAILURE() << "accepted: " << body;
    } catch (const api_error& e) {
      EXPECT_EQ(e.status, http::status::bad_request) << body;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not an api_error: " << e.what() << " for " << body;
    }
  }
  auto ok = request_body::parse(R"({"x": null, "y": true})");
  EXPECT_TRUE(ok.is_null("x"));
  EXPECT_EQ(ok.boolean("y"), true);
}

}  // namespace
}  // namespace tally::api
