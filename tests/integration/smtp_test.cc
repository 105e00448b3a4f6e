// send_email against a real SMTP server on loopback (tests/support/smtp_server: aiosmtpd):
// plain delivery with its headers and body as a mail parser reads them, STARTTLS and smtps with
// certificate verification, AUTH with the password from the environment, refused recipients
// (5xx permanent, 4xx not) and a closed port. No broker needed.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "consumers/smtp_sender.h"
#include "tests/support/kafka_env.h"
#include "tests/support/smtp_server.h"

namespace tally {
namespace {

using namespace std::chrono_literals;
using test::received_mail;
using test::smtp_server;
using test::smtp_server_options;

std::string lf(std::string s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
    out += s[i];
  }
  return out;
}

event crossing_event() {
  budget_threshold_crossed x;
  x.team = team_id{"acme"};
  x.kind = alert_scope_kind::team;
  x.scope_id = "acme";
  x.window = "day";
  x.period = "2026-02-13";
  x.threshold_percent = 95;
  x.level = "critical";
  x.message = "95% of daily budget used - approaching limit";
  x.limit = nanos{100 * nanos_per_usd};
  x.spent = nanos{95 * nanos_per_usd};
  x.crossing_event = event_id{"ev-42"};
  event e{.id = event_id{"thr:team:acme:day:2026-02-13:95"},
          .time = parse_rfc3339("2026-02-13T10:00:00Z").value(),
          .payload = x};
  return decode_event(encode_event(e)).value();  // as it arrives from tally.alerts.v1
}

// A loopback port nobody listens on: bound, then closed.
unsigned short closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

class smtp : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("tally-test-smtp-cert");
    cert_ = test::make_self_signed_cert(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  smtp_relay relay_to(const smtp_server& s, std::string_view scheme = "smtp") const {
    return {.url = s.url(scheme), .from = "tally@example.com", .timeout_ms = 10'000};
  }

  std::string dir_;
  test::test_cert cert_;
};

TEST_F(smtp, plain_delivery_with_recipients_subject_headers_and_body) {
  smtp_server server;
  email_message m = alert_email(crossing_event(), {"ops@example.com", "cfo@example.com"});
  // A body line of a lone dot (would end DATA unless escaped) and one starting with a dot; a
  // non-ASCII subject.
  m.text += ".\r\n..two dots\r\n.one dot\r\ncaf\xC3\xA9 = 5\r\n";
  m.subject += " \xE2\x80\x94 caf\xC3\xA9";
  const smtp_result r = send_email(relay_to(server), m);
  ASSERT_TRUE(r.ok) << r.error << server.log();
  EXPECT_EQ(r.smtp_code, 250);
  EXPECT_TRUE(r.error.empty());

  const auto got = server.wait_for(1, 10s);
  ASSERT_EQ(got.size(), 1u) << server.log();
  const received_mail& mail = got[0];
  EXPECT_EQ(mail.mail_from, "tally@example.com");
  EXPECT_EQ(mail.rcpt_tos, (std::vector<std::string>{"ops@example.com", "cfo@example.com"}));
  EXPECT_FALSE(mail.tls);
  EXPECT_EQ(mail.headers.at("From"), "tally@example.com");
  EXPECT_EQ(mail.headers.at("To"), "ops@example.com, cfo@example.com");
  EXPECT_EQ(mail.headers.at("Subject"),
            "[Tally] CRITICAL: team acme daily budget at 95% ($95.00 of $100.00) "
            "\xE2\x80\x94 caf\xC3\xA9");
  EXPECT_EQ(mail.headers.at("Message-ID"), "<thr_team_acme_day_2026-02-13_95@tally>");
  EXPECT_EQ(mail.headers.at("X-Tally-Alert-Id"), "thr:team:acme:day:2026-02-13:95");
  EXPECT_EQ(mail.headers.at("MIME-Version"), "1.0");
  EXPECT_EQ(mail.headers.at("Content-Type"), "text/plain; charset=\"utf-8\"");
  EXPECT_EQ(mail.headers.at("Content-Transfer-Encoding"), "quoted-printable");
  EXPECT_TRUE(mail.headers.at("Date").ends_with("+0000")) << mail.headers.at("Date");
  // The body as a mail client decodes it, every line intact, dots included.
  EXPECT_EQ(lf(mail.body), lf(m.text));
  EXPECT_NE(lf(mail.body).find("\n.\n..two dots\n.one dot\n"), std::string::npos) << mail.body;
  EXPECT_NE(mail.raw.find("\r\n\r\n"), std::string::npos);  // CRLF on the wire
}

TEST_F(smtp, concurrent_sends_from_several_threads) {
  smtp_server server;
  const smtp_relay relay = relay_to(server);
  std::vector<smtp_result> results(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      email_message m{.to = {"t" + std::to_string(i) + "@example.com"},
                      .subject = "n" + std::to_string(i),
                      .text = "body " + std::to_string(i)};
      results[i] = send_email(relay, m);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_TRUE(r.ok) << r.error;
  const auto got = server.wait_for(4, 10s);
  ASSERT_EQ(got.size(), 4u);
  std::set<std::string> subjects;
  for (const auto& g : got) subjects.insert(g.headers.at("Subject"));
  EXPECT_EQ(subjects, (std::set<std::string>{"n0", "n1", "n2", "n3"}));
}

TEST_F(smtp, starttls_verified_with_the_ca_file) {
  smtp_server server(
      {.cert_file = cert_.cert_file, .key_file = cert_.key_file, .require_starttls = true});
  smtp_relay relay = relay_to(server);
  relay.starttls = true;
  relay.ca_file = cert_.cert_file;
  const smtp_result r = send_email(relay, alert_email(crossing_event(), {"ops@example.com"}));
  ASSERT_TRUE(r.ok) << r.error << server.log();
  const auto got = server.wait_for(1, 10s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].tls);

  // The self-signed certificate is not trusted without the ca_file: nothing is sent.
  relay.ca_file.clear();
  smtp_result bad = send_email(relay, alert_email(crossing_event(), {"ops@example.com"}));
  EXPECT_FALSE(bad.ok);
  EXPECT_FALSE(bad.permanent);
  EXPECT_NE(bad.error.find("certificate"), std::string::npos) << bad.error;
  // Without verification it goes through (what verify_peer: false is for).
  relay.verify_peer = false;
  EXPECT_TRUE(send_email(relay, alert_email(crossing_event(), {"ops@example.com"})).ok);
  EXPECT_EQ(server.wait_for(2, 10s).size(), 2u);

  // Without starttls the relay refuses the plain-text MAIL (530): permanent.
  relay.starttls = false;
  bad = send_email(relay, alert_email(crossing_event(), {"ops@example.com"}));
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.smtp_code, 530) << bad.error;
  EXPECT_TRUE(bad.permanent);
  EXPECT_EQ(server.received().size(), 2u);
}

TEST_F(smtp, starttls_required_but_not_offered_sends_nothing) {
  smtp_server server;  // no certificate: no STARTTLS in its EHLO answer
  smtp_relay relay = relay_to(server);
  relay.starttls = true;
  const smtp_result r = send_email(relay, alert_email(crossing_event(), {"ops@example.com"}));
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.error.empty());
  EXPECT_TRUE(server.received().empty());
}

TEST_F(smtp, smtps_from_the_first_byte) {
  smtp_server server(
      {.cert_file = cert_.cert_file, .key_file = cert_.key_file, .implicit_tls = true});
  smtp_relay relay = relay_to(server, "smtps");
  relay.ca_file = cert_.cert_file;
  const smtp_result r = send_email(relay, alert_email(crossing_event(), {"ops@example.com"}));
  ASSERT_TRUE(r.ok) << r.error << server.log();
  ASSERT_EQ(server.wait_for(1, 10s).size(), 1u);
}

TEST_F(smtp, auth_with_the_password_from_password_env) {
  smtp_server server({.user = "tally", .password = "pw-from-env"});
  ::setenv("TALLY_TEST_SMTP_PASSWORD", "pw-from-env", 1);
  const smtp_relay relay = relay_of({.relay = server.url(),
                                     .username = "tally",
                                     .password_env = "TALLY_TEST_SMTP_PASSWORD",
                                     .from = "tally@example.com"});
  ::unsetenv("TALLY_TEST_SMTP_PASSWORD");
  const smtp_result r = send_email(relay, alert_email(crossing_event(), {"ops@example.com"}));
  ASSERT_TRUE(r.ok) << r.error << server.log();
  const auto got = server.wait_for(1, 10s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].auth_user, "tally");

  // A wrong password (535) is permanent; no credentials at all (530 AUTH required) too.
  smtp_relay wrong = relay;
  wrong.password = "nope";
  smtp_result bad = send_email(wrong, alert_email(crossing_event(), {"ops@example.com"}));
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.smtp_code, 535) << bad.error;
  EXPECT_TRUE(bad.permanent);
  smtp_relay none = relay;
  none.username.clear();
  bad = send_email(none, alert_email(crossing_event(), {"ops@example.com"}));
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.smtp_code, 530) << bad.error;
  EXPECT_TRUE(bad.permanent);
  EXPECT_EQ(server.received().size(), 1u);
}

TEST_F(smtp, refused_recipient_is_permanent_and_a_temporary_refusal_is_not) {
  smtp_server server({.reject_rcpt = {"gone@example.com"}, .tempfail_rcpt = {"busy@example.com"}});
  smtp_result r = send_email(
      relay_to(server), alert_email(crossing_event(), {"ops@example.com", "gone@example.com"}));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.smtp_code, 550) << r.error;
  EXPECT_TRUE(r.permanent);
  EXPECT_NE(r.error.find("550"), std::string::npos) << r.error;

  r = send_email(relay_to(server), alert_email(crossing_event(), {"busy@example.com"}));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.smtp_code, 451) << r.error;
  EXPECT_FALSE(r.permanent);
  // One refused recipient fails the whole message: nothing was delivered to anyone.
  EXPECT_TRUE(server.received().empty());
}

TEST_F(smtp, closed_port_is_a_temporary_failure) {
  const smtp_relay relay{.url = "smtp://127.0.0.1:" + std::to_string(closed_port()),
                         .from = "tally@example.com",
                         .timeout_ms = 5'000};
  const smtp_result r = send_email(relay, alert_email(crossing_event(), {"ops@example.com"}));
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.permanent);
  EXPECT_EQ(r.smtp_code, 0);
  EXPECT_NE(r.error.find("connect"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace tally
