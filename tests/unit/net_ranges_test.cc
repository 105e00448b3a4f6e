// Private address ranges (IPv4, IPv6, IPv4-mapped) and the refusal of webhook URLs: scheme,
// host, userinfo, length, private literals, localhost, names that resolve to private addresses.
#include "consumers/net_ranges.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

namespace tally {
namespace {

TEST(WebhookNetRanges, private_ipv4_ranges) {
  for (std::string_view ip :
       {"127.0.0.1", "127.255.255.254", "10.0.0.1", "10.255.255.255", "172.16.0.1",
        "172.31.255.255", "192.168.0.1", "192.168.255.255", "169.254.169.254", "169.254.0.1",
        "100.64.0.1", "100.127.255.255", "0.0.0.0", "0.1.2.3", "224.0.0.1", "239.255.255.255",
        "240.0.0.1", "255.255.255.255"})
    EXPECT_TRUE(is_private_ip(ip)) << ip;
}

TEST(WebhookNetRanges, public_ipv4_edges) {
  for (std::string_view ip :
       {"8.8.8.8", "1.1.1.1", "9.255.255.255", "11.0.0.0", "172.15.255.255", "172.32.0.0",
        "192.167.255.255", "192.169.0.0", "169.253.255.255", "169.255.0.0", "100.63.255.255",
        "100.128.0.0", "126.255.255.255", "128.0.0.0", "1.0.0.0", "223.255.255.255"})
    EXPECT_FALSE(is_private_ip(ip)) << ip;
}

TEST(WebhookNetRanges, ipv6_ranges_and_mapped_ipv4) {
  for (std::string_view ip :
       {"::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "ff02::1",
        "ff00::", "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "::ffff:7f00:1"})
    EXPECT_TRUE(is_private_ip(ip)) << ip;
  for (std::string_view ip : {"2001:4860:4860::8888", "2606:4700::1111", "fbff::1", "fec0::1",
                              "::2", "::ffff:8.8.8.8", "feff::1"})
    EXPECT_FALSE(is_private_ip(ip)) << ip;
}

TEST(WebhookNetRanges, text_that_is_not_an_ip_is_not_private) {
  for (std::string_view s :
       {"", "localhost", "example.com", "127.0.0.1.", "127.1", "1.2.3.4:80", "[::1]", "::1%lo"})
    EXPECT_FALSE(is_private_ip(s)) << s;
}

TEST(WebhookNetRanges, sockaddrs_of_both_families) {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  inet_pton(AF_INET, "192.168.1.10", &v4.sin_addr);
  EXPECT_TRUE(is_private_address(reinterpret_cast<sockaddr*>(&v4)));
  inet_pton(AF_INET, "93.184.216.34", &v4.sin_addr);
  EXPECT_FALSE(is_private_address(reinterpret_cast<sockaddr*>(&v4)));

  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:172.20.0.5", &v6.sin6_addr);
  EXPECT_TRUE(is_private_address(reinterpret_cast<sockaddr*>(&v6)));
  inet_pton(AF_INET6, "2a00:1450::1", &v6.sin6_addr);
  EXPECT_FALSE(is_private_address(reinterpret_cast<sockaddr*>(&v6)));

  sockaddr other{};
  other.sa_family = AF_UNIX;
  EXPECT_FALSE(is_private_address(&other));
  EXPECT_FALSE(is_private_address(nullptr));
}

TEST(WebhookUrl, refuses_what_is_not_an_absolute_http_url) {
  for (bool allow : {false, true}) {
    EXPECT_TRUE(webhook_url_problem("", allow));
    EXPECT_TRUE(webhook_url_problem("/hooks/a", allow));
    EXPECT_TRUE(webhook_url_problem("example.com/hook", allow));
    EXPECT_TRUE(webhook_url_problem("http://exa mple.com/", allow));
    auto scheme = webhook_url_problem("ftp://93.184.216.34/hook", allow);
    ASSERT_TRUE(scheme);
    EXPECT_NE(scheme->find("http or https"), std::string::npos) << *scheme;
    EXPECT_TRUE(webhook_url_problem("file:///etc/passwd", allow));
    EXPECT_TRUE(webhook_url_problem("http:/no-authority", allow));
    EXPECT_TRUE(webhook_url_problem("http:///path", allow));
    auto user = webhook_url_problem("https://user:pw@93.184.216.34/hook", allow);
    ASSERT_TRUE(user);
    EXPECT_NE(user->find("user"), std::string::npos) << *user;
    EXPECT_TRUE(webhook_url_problem("https://@93.184.216.34/hook", allow));
    std::string long_url = "https://93.184.216.34/" + std::string(2048, 'a');
    auto length = webhook_url_problem(long_url, allow);
    ASSERT_TRUE(length);
    EXPECT_NE(length->find("2048"), std::string::npos) << *length;
  }
  std::string ok = "https://93.184.216.34/";
  ok += std::string(2048 - ok.size(), 'a');
  EXPECT_EQ(webhook_url_problem(ok, false), std::nullopt);
}

TEST(WebhookUrl, accepts_public_literals_and_any_host_when_private_is_allowed) {
  EXPECT_EQ(webhook_url_problem("https://93.184.216.34/hook?x=1", false), std::nullopt);
  EXPECT_EQ(webhook_url_problem("HTTP://93.184.216.34:8080/hook", false), std::nullopt);
  EXPECT_EQ(webhook_url_problem("https://[2606:4700::1111]/hook", false), std::nullopt);
  EXPECT_EQ(webhook_url_problem("http://127.0.0.1:9000/hook", true), std::nullopt);
  EXPECT_EQ(webhook_url_problem("http://localhost:9000/hook", true), std::nullopt);
  EXPECT_EQ(webhook_url_problem("http://[::1]/hook", true), std::nullopt);
}

TEST(WebhookUrl, refuses_private_literals_and_localhost) {
  for (std::string_view url :
       {"http://127.0.0.1/hook", "https://10.0.0.7:8443/x", "http://169.254.169.254/latest",
        "http://[::1]:8080/", "http://[fd00::1]/", "http://[::ffff:192.168.0.1]/",
        "http://0.0.0.0/", "http://localhost/", "http://LocalHost:80/", "http://localhost./",
        "http://api.localhost/"}) {
    auto why = webhook_url_problem(url, false);
    ASSERT_TRUE(why) << url;
    EXPECT_NE(why->find("private"), std::string::npos) << url << ": " << *why;
  }
}

TEST(WebhookUrl, names_are_judged_by_what_they_resolve_to) {
  // Numeric forms inet_pton refuses but the resolver (and so curl) accepts as 127.0.0.1.
  for (std::string_view url : {"http://2130706433/", "http://0x7f000001/", "http://127.1/"}) {
    auto why = webhook_url_problem(url, false);
    ASSERT_TRUE(why) << url;
    EXPECT_NE(why->find("private"), std::string::npos) << url << ": " << *why;
  }
  auto why = webhook_url_problem("https://no-such-host.invalid/hook", false);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("cannot resolve host"), std::string::npos) << *why;
  EXPECT_EQ(webhook_url_problem("https://no-such-host.invalid/hook", true), std::nullopt);
}

}  // namespace
}  // namespace tally
