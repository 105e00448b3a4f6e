// One email through an SMTP relay (libcurl's SMTP: smtp:// with optional STARTTLS, or smtps://),
// and the email of one budget alert. Composes RFC 5322 messages: CRLF lines, header values with
// CR/LF stripped, non-ASCII subjects as RFC 2047 encoded words, quoted-printable UTF-8 bodies.
// Thread-safety: every function may be called from any thread at once; send_email blocks for
// at most the relay's timeout and keeps no state between calls.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "schemas/config.h"
#include "schemas/event_time.h"
#include "schemas/events.h"

namespace tally {

// Where and how to send: alerts.email with the password read from the environment.
struct smtp_relay {
  std::string url;                 // smtp://127.0.0.1:2525 or smtps://...
  bool starttls = false;           // smtp:// only: STARTTLS or nothing; false: plain, not tried
  std::string username, password;  // AUTH when username is set
  std::string from;                // envelope sender and From:
  std::string ca_file;             // PEM bundle for the relay's certificate; empty = system CAs
  bool verify_peer = true;         // verify the certificate chain and the host name
  int timeout_ms = 10'000;         // the whole conversation
};

// The relay of an alerts.email block. Throws std::runtime_error when password_env names a
// variable that is not set (an empty value is a valid, empty password).
smtp_relay relay_of(const smtp_config& c);

struct email_message {
  std::vector<std::string> to;  // addresses (addr-spec only, no display names)
  std::string subject;          // UTF-8
  std::string text;             // plain-text body, UTF-8; "\n" or "\r\n" line ends
  std::string message_id;       // Message-ID: <message_id@tally>
  std::string idempotency_key;  // X-Tally-Alert-Id: the same alert sent again carries the same
};

struct smtp_result {
  bool ok = false;
  long smtp_code = 0;      // the relay's last reply code; 0 when none (no connection)
  std::string error;       // empty when ok
  bool permanent = false;  // 5xx or a message that can never be sent: do not retry
};

// Sends one message: MAIL FROM relay.from, RCPT TO each of m.to (one refused recipient fails
// the whole message), DATA. Blocking. Never throws for a delivery problem.
smtp_result send_email(const smtp_relay& relay, const email_message& m);

// The message text as sent after DATA (CRLF lines, headers then body; before dot-stuffing,
// which libcurl does). `date` is the Date: header. Throws std::invalid_argument when `from` or
// an address of m.to is not a plain addr-spec (no white space, <>, quotes, commas or CR/LF).
std::string render_email(std::string_view from, const email_message& m, time_ms date);

// The email of one BudgetThresholdCrossed or BudgetThresholdResolved (decoded from its CloudEvent
// on tally.alerts.v1 with decode_event): subject such as "[Tally] CRITICAL: team acme daily
// budget at 95% ($95.00 of $100.00)", a body with scope, window, period, threshold, level,
// message, limit / spent / remaining, the event ids and the time. message_id and
// idempotency_key are the alert's event id; a sender mailing one alert to several rules may
// give each its own. Throws std::invalid_argument for any other event type.
email_message alert_email(const event& alert, std::vector<std::string> to);

}  // namespace tally
