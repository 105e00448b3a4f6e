#include "api/response_head.h"

#include <charconv>

namespace tally::api {

void append_response_head(std::string& out, const http_response::header_type& head,
                          std::string_view extra) {
  out.append(head.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  char code[8];
  out.append(code, std::to_chars(code, code + sizeof code, head.result_int()).ptr);
  out.push_back(' ');
  const auto reason = head.reason();
  out.append(reason.data(), reason.size());
  out.append("\r\n");
  for (const auto& f : head) {
    const auto name = f.name_string();
    const auto value = f.value();
    out.append(name.data(), name.size()).append(": ");
    out.append(value.data(), value.size()).append("\r\n");
  }
  out.append(extra).append("\r\n");
}

}  // namespace tally::api
