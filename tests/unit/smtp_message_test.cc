// The email of an alert and its RFC 5322 text: headers, encodings, header injection, and the
// relay settings from config. Sending is tested against a real server in
// tests/integration/smtp_test.cc.
#include <openssl/evp.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "consumers/smtp_sender.h"

namespace tally {
namespace {

const time_ms feb_13_2026_10h = parse_rfc3339("2026-02-13T10:00:00Z").value();

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t at; (at = text.find("\r\n", start)) != std::string::npos; start = at + 2)
    out.push_back(text.substr(start, at - start));
  EXPECT_EQ(start, text.size()) << "the text does not end with CRLF";
  return out;
}

std::string unbase64(std::string_view b64) {
  std::string out(b64.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(b64.data()),
                                static_cast<int>(b64.size()));
  EXPECT_GE(n, 0);
  std::size_t pad = 0;
  while (pad < b64.size() && b64[b64.size() - 1 - pad] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

TEST(smtp_message, headers_and_quoted_printable_body) {
  email_message m{.to = {"a@example.com", "b@example.com"},
                  .subject = "[Tally] hello",
                  .text = "line one\na=b caf\xC3\xA9\r\ntrailing space \n.dot first\n",
                  .message_id = "thr:team:acme",
                  .idempotency_key = "thr:team:acme"};
  EXPECT_EQ(render_email("tally@example.com", m, feb_13_2026_10h),
            "Date: Fri, 13 Feb 2026 10:00:00 +0000\r\n"
            "From: tally@example.com\r\n"
            "To: a@example.com, b@example.com\r\n"
            "Subject: [Tally] hello\r\n"
            "Message-ID: <thr_team_acme@tally>\r\n"
            "X-Tally-Alert-Id: thr:team:acme\r\n"
            "Auto-Submitted: auto-generated\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n"
            "\r\n"
            "line one\r\n"
            "a=3Db caf=C3=A9\r\n"
            "trailing space=20\r\n"
            ".dot first\r\n");
}

// RFC 2045 quoted-printable decoding, written here independently of the encoder.
std::string unquote_printable(const std::string& body) {
  std::string out;
  for (const auto& l : lines_of(body)) {
    const bool soft = l.ends_with("=");
    const std::string_view v(l.data(), soft ? l.size() - 1 : l.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '=' && i + 3 <= v.size()) {
        out += static_cast<char>(std::stoi(std::string(v.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else {
        out += v[i];
      }
    }
    if (!soft) out += '\n';
  }
  return out;
}

TEST(smtp_message, long_lines_are_soft_broken_within_76_characters) {
  std::string text = std::string(200, 'x') + "\n" + std::string(100, '=') + "\n";
  for (int i = 0; i < 40; ++i) text += "\xE2\x82\xAC";  // 40 euro signs: 9 characters each
  text += " \n";
  email_message m{.to = {"a@example.com"}, .subject = "s", .text = text};
  const std::string out = render_email("t@example.com", m, feb_13_2026_10h);
  const std::string body = out.substr(out.find("\r\n\r\n") + 4);
  for (const auto& l : lines_of(body)) EXPECT_LE(l.size(), 76u) << l;
  EXPECT_GT(lines_of(body).size(), 6u);  // soft breaks happened
  EXPECT_EQ(unquote_printable(body), text);
}

TEST(smtp_message, non_ascii_subject_is_rfc2047_encoded_in_whole_characters) {
  // 30 x "é" (2 bytes each) and a euro sign: more than one encoded word.
  std::string subject = "Budget ";
  for (int i = 0; i < 30; ++i) subject += "\xC3\xA9";
  subject += " \xE2\x82\xAC 5";
  email_message m{.to = {"a@example.com"}, .subject = subject, .text = "x"};
  const auto lines = lines_of(render_email("t@example.com", m, feb_13_2026_10h));
  std::string decoded;
  bool in_subject = false;
  int words = 0;
  for (const auto& l : lines) {
    if (l.starts_with("Subject:")) {
      in_subject = true;
    } else if (!l.starts_with(" ")) {
      in_subject = false;
    }
    if (!in_subject) continue;
    const std::string word = l.substr(l.find(' ') + 1);
    ASSERT_TRUE(word.starts_with("=?UTF-8?B?") && word.ends_with("?=")) << word;
    EXPECT_LE(word.size(), 75u);
    const std::string bytes = unbase64(word.substr(10, word.size() - 12));
    // Each word holds whole characters: it never starts with a continuation byte.
    EXPECT_NE(static_cast<unsigned char>(bytes[0]) & 0xC0, 0x80);
    decoded += bytes;
    ++words;
  }
  EXPECT_GE(words, 2);
  EXPECT_EQ(decoded, subject);
}

TEST(smtp_message, header_values_cannot_inject_headers) {
  email_message m{.to = {"a@example.com"},
                  .subject = "hi\r\nBcc: evil@example.com",
                  .text = "body\r\n",
                  .message_id = "id>\r\nBcc: evil@example.com",
                  .idempotency_key = "k\nBcc: evil@example.com"};
  const std::string out = render_email("t@example.com", m, feb_13_2026_10h);
  for (const auto& l : lines_of(out)) EXPECT_FALSE(l.starts_with("Bcc")) << out;
  EXPECT_NE(out.find("Subject: hi Bcc: evil@example.com\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Tally-Alert-Id: k Bcc: evil@example.com\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Message-ID: <id___Bcc__evil_example.com@tally>\r\n"), std::string::npos)
      << out;

  // Addresses go into SMTP commands as they are: anything but a plain addr-spec is refused.
  for (const char* bad : {"a@example.com>\r\nRCPT TO:<b@example.com", "A <a@example.com>",
                          "a@example.com, b@example.com", "no-at-sign", ""}) {
    email_message b = m;
    b.to = {bad};
    EXPECT_THROW(render_email("t@example.com", b, feb_13_2026_10h), std::invalid_argument) << bad;
  }
  EXPECT_THROW(render_email("t@example.com\r\nX: y", m, feb_13_2026_10h), std::invalid_argument);
  // send_email says so without a connection, and permanently.
  email_message b = m;
  b.to = {"A <a@example.com>"};
  smtp_result r = send_email({.url = "smtp://127.0.0.1:1", .from = "t@example.com"}, b);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.permanent);
  EXPECT_NE(r.error.find("not an email address"), std::string::npos) << r.error;
  r = send_email({.url = "smtp://127.0.0.1:1", .from = "t@example.com"}, {});
  EXPECT_TRUE(r.permanent);
  EXPECT_EQ(r.error, "no recipients");
}

TEST(smtp_message, long_ascii_subjects_and_recipient_lists_are_folded) {
  std::string subject;
  for (int i = 0; i < 20; ++i) subject += "word" + std::to_string(i) + " ";
  subject.pop_back();
  email_message m{.subject = subject, .text = "x"};
  for (int i = 0; i < 8; ++i) m.to.push_back("recipient" + std::to_string(i) + "@example.com");
  const std::string out = render_email("t@example.com", m, feb_13_2026_10h);
  std::string unfolded;
  for (const auto& l : lines_of(out)) {
    if (l.empty()) break;  // end of the headers
    EXPECT_LE(l.size(), 78u) << l;
    if (l.starts_with(" ")) {
      unfolded += l;
    } else {
      unfolded += "\n" + l;
    }
  }
  EXPECT_NE(unfolded.find("\nSubject: " + subject + "\n"), std::string::npos) << unfolded;
  EXPECT_NE(unfolded.find("\nTo: recipient0@example.com, recipient1@example.com,"),
            std::string::npos);
  EXPECT_NE(unfolded.find(" recipient7@example.com\n"), std::string::npos) << unfolded;
}

budget_threshold_crossed crossing() {
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
  x.at = feb_13_2026_10h;
  x.crossing_event = event_id{"ev-42"};
  return x;
}

// Through the CloudEvent codec, as the alert arrives from tally.alerts.v1.
event from_topic(event_id id, event_payload p) {
  event e{.id = std::move(id), .time = feb_13_2026_10h, .payload = std::move(p)};
  return decode_event(encode_event(e)).value();
}

TEST(smtp_message, email_of_a_crossing) {
  const event e = from_topic(event_id{"thr:team:acme:day:2026-02-13:95"}, crossing());
  email_message m = alert_email(e, {"ops@example.com"});
  EXPECT_EQ(m.to, std::vector<std::string>{"ops@example.com"});
  EXPECT_EQ(m.subject, "[Tally] CRITICAL: team acme daily budget at 95% ($95.00 of $100.00)");
  EXPECT_EQ(m.message_id, "thr:team:acme:day:2026-02-13:95");
  EXPECT_EQ(m.idempotency_key, "thr:team:acme:day:2026-02-13:95");
  EXPECT_EQ(m.text,
            "Budget alert (critical): team acme daily budget at 95% ($95.00 of $100.00).\r\n"
            "\r\n"
            "95% of daily budget used - approaching limit\r\n"
            "\r\n"
            "Scope:      team acme\r\n"
            "Team:       acme\r\n"
            "Window:     day\r\n"
            "Period:     2026-02-13\r\n"
            "Threshold:  95%\r\n"
            "Level:      critical\r\n"
            "Limit:      $100.00\r\n"
            "Spent:      $95.00\r\n"
            "Remaining:  $5.00\r\n"
            "Occurrence: 1\r\n"
            "Alert id:   thr:team:acme:day:2026-02-13:95\r\n"
            "Caused by:  ev-42\r\n"
            "Time:       2026-02-13T10:00:00.000Z\r\n"
            "\r\n"
            "-- \r\n"
            "Tally cost control\r\n");

  // Other scopes, sub-cent amounts and overspend.
  budget_threshold_crossed s = crossing();
  s.kind = alert_scope_kind::session;
  s.scope_id = "ses_1";
  s.window = "run";
  s.level = "exceeded";
  s.threshold_percent = 100;
  s.limit = nanos{12'000'000};  // $0.012
  s.spent = nanos{15'500'000};
  m = alert_email(from_topic(event_id{"thr:x"}, s), {"ops@example.com"});
  EXPECT_EQ(m.subject,
            "[Tally] EXCEEDED: session ses_1 per-run budget at 100% ($0.0155 of $0.012)");
  EXPECT_NE(m.text.find("Remaining:  $0.00 (over by $0.0035)\r\n"), std::string::npos) << m.text;
  s.kind = alert_scope_kind::global;
  s.scope_id = "global";
  s.window = "month";
  m = alert_email(from_topic(event_id{"thr:y"}, s), {"ops@example.com"});
  EXPECT_TRUE(m.subject.starts_with("[Tally] EXCEEDED: global monthly budget at 100%"))
      << m.subject;
}

TEST(smtp_message, email_of_a_resolution) {
  budget_threshold_resolved r;
  static_cast<alert_subject&>(r) = crossing();
  r.limit = nanos{200 * nanos_per_usd};
  r.alert = event_id{"thr:team:acme:day:2026-02-13:95"};
  r.reason = "limit_raised";
  r.cause_event = event_id{"lim-7"};
  email_message m =
      alert_email(from_topic(event_id{"res:team:acme:day:2026-02-13:95"}, r), {"ops@example.com"});
  EXPECT_EQ(m.subject, "[Tally] RESOLVED: team acme daily budget 95% alert (limit raised)");
  EXPECT_TRUE(m.text.starts_with(
      "Budget alert resolved: team acme daily budget 95% alert, because the limit was raised.\r\n"))
      << m.text;
  for (const char* line :
       {"Limit:      $200.00\r\n", "Spent:      $95.00\r\n", "Remaining:  $105.00\r\n",
        "Reason:     limit_raised\r\n", "Resolves:   thr:team:acme:day:2026-02-13:95\r\n",
        "Alert id:   res:team:acme:day:2026-02-13:95\r\n", "Caused by:  lim-7\r\n"}) {
    EXPECT_NE(m.text.find(line), std::string::npos) << line << m.text;
  }
  r.reason = "new_period";
  EXPECT_TRUE(alert_email(from_topic(event_id{"res:z"}, r), {}).subject.ends_with("(new period)"));

  event other{.id = event_id{"ack-1"}, .payload = alert_acknowledged{team_id{"acme"}}};
  EXPECT_THROW(alert_email(other, {"ops@example.com"}), std::invalid_argument);
}

TEST(smtp_message, relay_of_reads_the_password_from_the_environment) {
  smtp_config c{.relay = "smtp://127.0.0.1:2525",
                .starttls = true,
                .username = "tally",
                .password_env = "TALLY_TEST_SMTP_PASSWORD_UNIT",
                .from = "tally@example.com",
                .ca_file = "/etc/ssl/certs/ca-certificates.crt",
                .verify_peer = false,
                .timeout_ms = 2'500};
  ::unsetenv("TALLY_TEST_SMTP_PASSWORD_UNIT");
  try {
    relay_of(c);
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("TALLY_TEST_SMTP_PASSWORD_UNIT is not set"),
              std::string::npos)
        << e.what();
  }
  ::setenv("TALLY_TEST_SMTP_PASSWORD_UNIT", "s3cret", 1);
  smtp_relay r = relay_of(c);
  ::unsetenv("TALLY_TEST_SMTP_PASSWORD_UNIT");
  EXPECT_EQ(r.url, "smtp://127.0.0.1:2525");
  EXPECT_TRUE(r.starttls);
  EXPECT_EQ(r.username, "tally");
  EXPECT_EQ(r.password, "s3cret");
  EXPECT_EQ(r.from, "tally@example.com");
  EXPECT_EQ(r.ca_file, "/etc/ssl/certs/ca-certificates.crt");
  EXPECT_FALSE(r.verify_peer);
  EXPECT_EQ(r.timeout_ms, 2'500);
  // No password_env: no password, no lookup.
  c.password_env.clear();
  EXPECT_EQ(relay_of(c).password, "");
}

}  // namespace
}  // namespace tally
