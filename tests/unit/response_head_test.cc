// The server's own head writer against Beast's serializer, which it replaces for every answer
// that is not chunked: the bytes on the wire must be the same.
#include "api/response_head.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include <boost/beast/http/write.hpp>

namespace tally::api {
namespace {

std::string beast_text(const http_response& res) {
  std::ostringstream os;
  os << res;
  return os.str();
}

std::string our_text(const http_response& res, std::string_view extra = {}) {
  std::string out;
  append_response_head(out, res.base(), extra);
  return out + res.body();
}

http_response answer(http::status status, unsigned version, std::string body) {
  http_response res{status, version};
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

TEST(response_head, is_what_beast_writes_for_every_kind_of_answer) {
  std::vector<http_response> answers;
  answers.push_back(answer(http::status::ok, 11, R"({"over_budget":false})"));
  answers.push_back(answer(http::status::payment_required, 11, R"({"type":"about:blank"})"));
  answers.push_back(answer(http::status::no_content, 11, ""));
  auto closing = answer(http::status::too_many_requests, 11, "{}");
  closing.set(http::field::retry_after, "17");
  closing.keep_alive(false);
  answers.push_back(closing);
  auto old = answer(http::status::ok, 10, "[]");
  old.keep_alive(true);  // HTTP/1.0 keeps the connection only when told
  answers.push_back(old);
  auto custom = answer(http::status::ok, 11, "x");
  custom.reason("Fine");
  custom.insert("X-RateLimit-Remaining", "59999");
  answers.push_back(custom);
  http_response unknown{static_cast<http::status>(299), 11};  // no reason phrase known
  unknown.prepare_payload();
  answers.push_back(unknown);
  for (const auto& res : answers) {
    EXPECT_EQ(our_text(res), beast_text(res)) << res.result_int();
    // The server's own field comes last, as Beast's set() would have put it.
    auto with_server = res;
    with_server.set(http::field::server, "tally");
    EXPECT_EQ(our_text(res, "Server: tally\r\n"), beast_text(with_server)) << res.result_int();
  }
}

}  // namespace
}  // namespace tally::api
