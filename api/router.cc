// Routes live in a segment trie: each node has its literal children, at most one {param} child
// and the methods that end there. A target is parsed once (Boost.URL origin-form), split into
// segments on the stack, and walked segment by segment; only path parameters, the query and an
// error answer allocate.
#include "api/router.h"

#include <array>
#include <stdexcept>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "api/problem.h"

namespace tally::api {
namespace {

constexpr std::size_t max_segments = 32;

bool is_param(std::string_view seg) {
  return seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Appends the percent-decoding of `seg` (already validated by Boost.URL) to `out`.
void append_decoded(std::string& out, std::string_view seg) {
  for (std::size_t i = 0; i < seg.size(); ++i) {
    if (seg[i] == '%' && i + 2 < seg.size() && hex_value(seg[i + 1]) >= 0 &&
        hex_value(seg[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(seg[i + 1]) * 16 + hex_value(seg[i + 2])));
      i += 2;
    } else {
      out.push_back(seg[i]);
    }
  }
}

http_response bad_target(std::string_view detail) {
  return problem(http::status::bad_request, "malformed-request", "Bad Request", detail);
}

}  // namespace

void router::add(http::verb method, std::string pattern, route_meta meta, route_handler handler) {
  if (pattern.empty() || pattern.front() != '/') {
    throw std::invalid_argument("route pattern must start with '/': " + pattern);
  }
  route r{.method = method,
          .pattern = std::move(pattern),
          .meta = std::move(meta),
          .handler = std::move(handler),
          .id = routes_.size()};
  std::uint32_t at = 0;
  std::size_t depth = 0;
  std::string_view rest = std::string_view(r.pattern).substr(1);
  bool more = !rest.empty();  // "/" has no segments; "/a/" ends with an empty one
  while (more) {
    auto slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    more = slash != std::string_view::npos;
    if (more) rest = rest.substr(slash + 1);
    if (++depth > max_segments) {
      throw std::invalid_argument("route pattern has too many segments: " + r.pattern);
    }
    if (is_param(seg)) {
      std::string_view name = seg.substr(1, seg.size() - 2);
      if (name.find_first_of("{}") != std::string_view::npos) {
        throw std::invalid_argument("malformed route parameter in " + r.pattern);
      }
      r.param_names.emplace_back(name);
      if (nodes_[at].param == none) {
        nodes_[at].param = static_cast<std::uint32_t>(nodes_.size());
        nodes_.emplace_back();
      }
      at = nodes_[at].param;
      continue;
    }
    if (seg.find_first_of("{}") != std::string_view::npos) {
      throw std::invalid_argument("a route parameter must be a whole segment: " + r.pattern);
    }
    std::uint32_t next = none;
    for (auto& [lit, child] : nodes_[at].literals) {
      if (lit == seg) next = child;
    }
    if (next == none) {
      next = static_cast<std::uint32_t>(nodes_.size());
      nodes_[at].literals.emplace_back(std::string(seg), next);
      nodes_.emplace_back();
    }
    at = next;
  }
  for (auto& [v, idx] : nodes_[at].methods) {
    if (v == method) {
      throw std::invalid_argument("duplicate route: " + std::string(http::to_string(method)) + " " +
                                  r.pattern + " (same shape as " + routes_[idx].pattern + ")");
    }
  }
  nodes_[at].methods.emplace_back(method, static_cast<std::uint32_t>(routes_.size()));
  max_segments_ = std::max(max_segments_, depth);
  routes_.push_back(std::move(r));
}

// Depth-first walk: literals before the parameter, backtracking on a dead end.
struct router::search {
  const router& r;
  http::verb verb;
  std::span<const std::string_view> segs;
  std::array<std::uint8_t, max_segments> captured{};  // segment indices bound to {params}
  std::size_t ncaptured = 0;
  std::uint32_t found = none;      // route index
  std::uint32_t path_only = none;  // first node whose path matched without the method

  bool walk(std::uint32_t n, std::size_t i) {
    const node& nd = r.nodes_[n];
    if (i == segs.size()) {
      for (auto& [v, idx] : nd.methods) {
        if (v == verb) {
          found = idx;
          return true;
        }
      }
      if (!nd.methods.empty() && path_only == none) path_only = n;
      return false;
    }
    for (auto& [lit, child] : nd.literals) {
      if (lit == segs[i]) {
        if (walk(child, i + 1)) return true;
        break;
      }
    }
    if (nd.param != none && !segs[i].empty()) {
      captured[ncaptured++] = static_cast<std::uint8_t>(i);
      if (walk(nd.param, i + 1)) return true;
      --ncaptured;
    }
    return false;
  }
};

route_match router::match(http::verb method, std::string_view target) const {
  route_match out;
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) {
    out.error = bad_target("the request target is not a valid origin-form URL");
    return out;
  }
  const boost::urls::url_view& url = *parsed;
  std::string_view path = url.encoded_path();

  // Split on the stack; segments with escapes are decoded into `decoded`, reserved up front so
  // the views into it stay valid.
  std::array<std::string_view, max_segments> segs;
  std::size_t nsegs = 0;
  std::string decoded;
  if (path.find('%') != std::string_view::npos) decoded.reserve(path.size());
  std::string_view rest = path.substr(1);  // origin-form paths start with '/'
  bool more = !rest.empty();
  while (more) {
    auto slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    more = slash != std::string_view::npos;
    if (more) rest = rest.substr(slash + 1);
    if (nsegs == max_segments_ || nsegs == max_segments) {
      nsegs = max_segments + 1;  // deeper than any route
      break;
    }
    if (seg.find('%') != std::string_view::npos) {
      std::size_t start = decoded.size();
      append_decoded(decoded, seg);
      seg = std::string_view(decoded).substr(start);
    }
    segs[nsegs++] = seg;
  }

  search s{.r = *this, .verb = method, .segs = {segs.data(), nsegs}};
  if (nsegs <= max_segments && s.walk(0, 0)) {
    const route& r = routes_[s.found];
    out.matched = &r;
    out.path.items.reserve(s.ncaptured);
    for (std::size_t i = 0; i < s.ncaptured; ++i) {
      out.path.items.emplace_back(r.param_names[i], std::string(segs[s.captured[i]]));
    }
    if (url.has_query()) {
      for (auto p : url.params()) {
        out.query.items.emplace_back(std::move(p.key), std::move(p.value));
      }
    }
    return out;
  }
  if (s.path_only != none) {
    std::string allow;
    for (auto& [v, idx] : nodes_[s.path_only].methods) {
      if (!allow.empty()) allow += ", ";
      allow += http::to_string(v);
    }
    out.error =
        problem(http::status::method_not_allowed, "method-not-allowed", "Method Not Allowed",
                std::string(http::to_string(method)) + " is not allowed on " + std::string(path) +
                    "; allowed: " + allow);
    out.error->set(http::field::allow, allow);
    return out;
  }
  out.error = problem(http::status::not_found, "not-found", "Not Found",
                      "no route for " + std::string(path));
  return out;
}

}  // namespace tally::api
