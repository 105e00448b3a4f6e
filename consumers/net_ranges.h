// Which network addresses a webhook may not reach (loopback, private, link-local and cloud
// metadata, CGNAT, multicast, reserved), and why a subscription URL is refused. Guards the
// webhook sender against requests into the node's own network (SSRF).
// Thread-safety: free functions without shared state; webhook_url_problem resolves the host
// name (blocking getaddrinfo).
#pragma once

#include <optional>
#include <string>
#include <string_view>

struct sockaddr;

namespace tally {

// True for an AF_INET / AF_INET6 address in a private, loopback, link-local, CGNAT, multicast
// or reserved range (an IPv4-mapped IPv6 address is judged as its IPv4 address); false for a
// public address and for other families.
bool is_private_address(const sockaddr* sa);

// is_private_address of a textual IPv4 or IPv6 address (inet_pton); false for text that is not
// an IP address.
bool is_private_ip(std::string_view text);

// Why `url` cannot be a webhook target, or nullopt when it can: an absolute http or https URL
// with a host, no userinfo, at most 2048 characters. Unless `allow_private`, a literal IP host
// must be public, and a host name ("localhost" is private) must resolve, to public addresses
// only. The sender checks again at connect time, which a DNS change cannot bypass.
std::optional<std::string> webhook_url_problem(std::string_view url, bool allow_private);

}  // namespace tally
