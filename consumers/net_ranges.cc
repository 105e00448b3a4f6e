#include "consumers/net_ranges.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <memory>

#include <boost/url/parse.hpp>

namespace tally {
namespace {

constexpr std::size_t max_url_length = 2048;

bool in_v4(std::uint32_t a, std::uint32_t net, int bits) {
  std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
  return (a & mask) == net;
}

// `a` in host byte order.
bool private_v4(std::uint32_t a) {
  return in_v4(a, 0x00000000, 8) ||   // 0.0.0.0/8 "this network"
         in_v4(a, 0x0A000000, 8) ||   // 10/8
         in_v4(a, 0x64400000, 10) ||  // 100.64/10 CGNAT
         in_v4(a, 0x7F000000, 8) ||   // 127/8 loopback
         in_v4(a, 0xA9FE0000, 16) ||  // 169.254/16 link-local, cloud metadata
         in_v4(a, 0xAC100000, 12) ||  // 172.16/12
         in_v4(a, 0xC0A80000, 16) ||  // 192.168/16
         in_v4(a, 0xE0000000, 4) ||   // 224/4 multicast
         in_v4(a, 0xF0000000, 4);     // 240/4 reserved, and 255.255.255.255
}

bool private_v6(const in6_addr& a) {
  const unsigned char* b = a.s6_addr;
  static const unsigned char zero[16] = {};
  if (std::memcmp(b, zero, 16) == 0) return true;                         // ::
  if (std::memcmp(b, zero, 15) == 0 && b[15] == 1) return true;           // ::1
  if (std::memcmp(b, zero, 10) == 0 && b[10] == 0xff && b[11] == 0xff) {  // ::ffff:a.b.c.d
    std::uint32_t v4 = (std::uint32_t{b[12]} << 24) | (std::uint32_t{b[13]} << 16) |
                       (std::uint32_t{b[14]} << 8) | std::uint32_t{b[15]};
    return private_v4(v4);
  }
  if ((b[0] & 0xfe) == 0xfc) return true;                  // fc00::/7 unique local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return true;  // fe80::/10 link-local
  if (b[0] == 0xff) return true;                           // ff00::/8 multicast
  return false;
}

}  // namespace

bool is_private_address(const sockaddr* sa) {
  if (!sa) return false;
  if (sa->sa_family == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, sa, sizeof in);
    return private_v4(ntohl(in.sin_addr.s_addr));
  }
  if (sa->sa_family == AF_INET6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, sa, sizeof in6);
    return private_v6(in6.sin6_addr);
  }
  return false;
}

bool is_private_ip(std::string_view text) {
  std::string s(text);
  in_addr v4;
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) return private_v4(ntohl(v4.s_addr));
  in6_addr v6;
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) return private_v6(v6);
  return false;
}

std::optional<std::string> webhook_url_problem(std::string_view url, bool allow_private) {
  if (url.size() > max_url_length)
    return "URL longer than " + std::to_string(max_url_length) + " characters";
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return "not an absolute URL: " + parsed.error().message();
  const auto& u = *parsed;
  if (u.scheme_id() != boost::urls::scheme::http && u.scheme_id() != boost::urls::scheme::https)
    return "scheme must be http or https";
  if (!u.has_authority() || u.encoded_host().empty()) return "URL has no host";
  if (u.has_userinfo()) return "URL must not contain user information";
  if (allow_private) return std::nullopt;

  std::string host;
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4:
      host = u.host_ipv4_address().to_string();
      break;
    case boost::urls::host_type::ipv6:
      host = u.host_ipv6_address().to_string();
      break;
    case boost::urls::host_type::name:
      host = u.host_name();  // percent-decoded
      break;
    default:  // ipvfuture
      return "unsupported host address";
  }
  if (u.host_type() != boost::urls::host_type::name) {
    if (is_private_ip(host)) return "host " + host + " is a private address";
    return std::nullopt;
  }
  std::string lower;
  for (char c : host) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  while (!lower.empty() && lower.back() == '.') lower.pop_back();
  if (lower == "localhost" || lower.ends_with(".localhost"))
    return "host " + host + " is a private address";
  // A name that is an IP address in a form inet_pton refuses ("0x7f.1", "2130706433") is
  // resolved below, which judges the address the resolver (and curl) would use.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res)
    return "cannot resolve host " + host;
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, freeaddrinfo);
  for (addrinfo* ai = res; ai; ai = ai->ai_next)
    if (is_private_address(ai->ai_addr)) return "host " + host + " resolves to a private address";
  return std::nullopt;
}

}  // namespace tally
