// A real SMTP server on loopback for the email tests: tests/support/smtp_server.py (aiosmtpd)
// run by Debian's python3, with STARTTLS or implicit TLS, AUTH and refused recipients on
// request, writing each message it accepts as a JSON file into a temporary directory.
// wait_for() waits on that directory with inotify (IN_MOVED_TO: the script renames each file
// into place once written), bounded by the deadline.
// Thread-safety: one smtp_server is used by one thread; free functions are thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tally::test {

struct smtp_server_options {
  std::string cert_file, key_file;         // offer STARTTLS with this certificate (PEM) when set
  bool require_starttls = false;           // refuse MAIL before STARTTLS
  bool implicit_tls = false;               // smtps: TLS from the first byte
  std::string user, password;              // require AUTH (PLAIN / LOGIN) when user is set
  std::vector<std::string> reject_rcpt;    // RCPT TO these: 550
  std::vector<std::string> tempfail_rcpt;  // RCPT TO these: 451
};

// One accepted message, as the server saw and decoded it (Python's email package).
struct received_mail {
  std::string mail_from;
  std::vector<std::string> rcpt_tos;
  std::string raw;                             // DATA as received (after dot-unstuffing)
  std::map<std::string, std::string> headers;  // decoded values (RFC 2047), unfolded
  std::string body;                            // decoded text (quoted-printable undone)
  bool tls = false;                            // the message came over TLS
  std::string auth_user;                       // empty: not authenticated
};

class smtp_server {
 public:
  // Starts the server; throws std::runtime_error (with its stderr) unless it prints
  // "ready PORT" within 20 s.
  explicit smtp_server(smtp_server_options o = {});
  ~smtp_server();  // SIGTERM (SIGKILL after 5 s), reap, remove the directory
  smtp_server(const smtp_server&) = delete;
  smtp_server& operator=(const smtp_server&) = delete;

  unsigned short port() const { return port_; }
  // "smtp://127.0.0.1:PORT" (or another scheme, e.g. "smtps").
  std::string url(std::string_view scheme = "smtp") const;
  // The messages accepted so far, in order.
  std::vector<received_mail> received() const;
  // Waits until at least n messages are there or the deadline passes; returns what is there.
  std::vector<received_mail> wait_for(std::size_t n, std::chrono::milliseconds deadline) const;
  // The server's stderr so far (for failure messages).
  std::string log() const;

 private:
  void stop();  // what the destructor does; idempotent

  std::string dir_;  // temporary: mail/ and server.log
  pid_t pid_ = -1;
  int stdin_fd_ = -1;  // the child's stdin: it exits when this closes
  unsigned short port_ = 0;
};

struct test_cert {
  std::string cert_file, key_file;
};
// A self-signed certificate for 127.0.0.1 and localhost (P-256, valid one day), written into
// `dir` by the openssl command-line tool. Throws std::runtime_error when that fails.
test_cert make_self_signed_cert(const std::string& dir);

}  // namespace tally::test
