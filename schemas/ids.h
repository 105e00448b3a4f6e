// Strong types for the identifiers of the domain, so a team id is never passed where an
// agent id belongs. Values are plain strings on the wire; these wrappers are free at run time.
// Thread-safety: values; no shared state.
#pragma once

#include <compare>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace tally {

template <class Tag>
class basic_id {
 public:
  basic_id() = default;
  explicit basic_id(std::string v) : value_(std::move(v)) {}
  explicit basic_id(std::string_view v) : value_(v) {}
  explicit basic_id(const char* v) : value_(v) {}

  const std::string& str() const noexcept { return value_; }
  bool empty() const noexcept { return value_.empty(); }

  friend auto operator<=>(const basic_id&, const basic_id&) = default;
  friend bool operator==(const basic_id&, const basic_id&) = default;

 private:
  std::string value_;
};

using team_id = basic_id<struct team_tag>;
using agent_id = basic_id<struct agent_tag>;
using task_id = basic_id<struct task_tag>;
using session_id = basic_id<struct session_tag>;
using event_id = basic_id<struct event_tag>;

}  // namespace tally

template <class Tag>
struct std::hash<tally::basic_id<Tag>> {
  std::size_t operator()(const tally::basic_id<Tag>& id) const noexcept {
    return std::hash<std::string>{}(id.str());
  }
};
