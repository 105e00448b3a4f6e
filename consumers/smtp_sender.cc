// SMTP delivery through libcurl's easy interface, one handle per message (no shared state, so
// any thread may send), and the composition of the message.
//
// Message layout (RFC 5322, RFC 2045-2047):
//   message := header* CRLF body
//   header  := name ": " value CRLF        value without CR/LF; long values folded (CRLF SP)
//   Subject := ASCII text | encoded-word (CRLF SP encoded-word)*
//              encoded-word := "=?UTF-8?B?" base64(<= 45 bytes, whole UTF-8 characters) "?="
//   body    := quoted-printable UTF-8 text, CRLF line ends, lines <= 76 characters
// libcurl escapes lines beginning with '.' and appends the final CRLF "." CRLF.
#include "consumers/smtp_sender.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <variant>

#include <fmt/format.h>

#include "schemas/money.h"

namespace tally {
namespace {

constexpr std::string_view crlf = "\r\n";

// Header values never carry a line break (header injection); other control bytes go too.
std::string header_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c == '\r' || c == '\n' || c == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else if (c >= 0x20 && c != 0x7f) {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// Plain ASCII (after header_text), for headers that must not hold anything else.
std::string ascii_header_text(std::string_view s) {
  std::string out = header_text(s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) >= 0x80) c = '?';
  }
  return out;
}

// An addr-spec we can put in an SMTP command and a header as is.
bool plain_address(std::string_view a) {
  if (a.empty() || a.size() > 320 || a.find('@') == std::string_view::npos) return false;
  return std::none_of(a.begin(), a.end(), [](unsigned char c) {
    return c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';' || c == '"' ||
           c == '(' || c == ')' || c == '\\';
  });
}

// The local part of Message-ID: atext and dots only.
std::string message_id_text(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    const bool atext = std::isalnum(c) != 0 ||
                       std::string_view("!#$%&'*+/=?^_`{|}~.-").find(static_cast<char>(c)) !=
                           std::string_view::npos;
    out += atext && c < 0x80 ? static_cast<char>(c) : '_';
  }
  return out;
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// "Subject: " + the value, folded so that no line exceeds 78 characters where it can be helped.
std::string subject_header(std::string_view subject) {
  const std::string s = header_text(subject);
  const bool ascii =
      std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
  std::string out = "Subject:";
  if (ascii && s.find("=?") == std::string::npos) {
    // Fold at spaces: each word goes on the current line while it fits.
    std::size_t line = out.size(), i = 0;
    while (i < s.size()) {
      std::size_t j = s.find(' ', i);
      if (j == std::string::npos) j = s.size();
      const std::string_view word(s.data() + i, j - i);
      if (line + 1 + word.size() > 78 && line > 9) {
        out += crlf;
        line = 0;
      }
      out += ' ';
      out += word;
      line += 1 + word.size();
      i = j + 1;
    }
    return out;
  }
  // RFC 2047: encoded words of at most 75 characters, each whole UTF-8 characters.
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t n = std::min<std::size_t>(45, s.size() - i);
    while (n > 1 && i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) --n;
    if (i > 0) out += crlf;
    out += " =?UTF-8?B?" + base64(std::string_view(s).substr(i, n)) + "?=";
    i += n;
  }
  return out;
}

// "To: a, b" folded after commas.
std::string to_header(const std::vector<std::string>& to) {
  std::string out = "To:";
  std::size_t line = out.size();
  for (std::size_t i = 0; i < to.size(); ++i) {
    const std::string item = to[i] + (i + 1 < to.size() ? "," : "");
    if (i > 0 && line + 1 + item.size() > 78) {
      out += crlf;
      line = 0;
    }
    out += ' ' + item;
    line += 1 + item.size();
  }
  return out;
}

// RFC 2045 quoted-printable of UTF-8 text; "\n" and "\r\n" both end a line.
std::string quoted_printable(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    const bool last = end == std::string_view::npos;
    if (last) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t width = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
      const auto c = static_cast<unsigned char>(line[i]);
      const bool trailing_space = (c == ' ' || c == '\t') && i + 1 == line.size();
      std::string token;
      if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !trailing_space)) {
        token = std::string(1, static_cast<char>(c));
      } else {
        token = {'=', hex[c >> 4], hex[c & 15]};
      }
      // A soft break ("=" CRLF) keeps encoded lines within 76 characters.
      if (width + token.size() > 75) {
        out += "=";
        out += crlf;
        width = 0;
      }
      out += token;
      width += token.size();
    }
    if (last) {
      if (!line.empty()) out += crlf;
      break;
    }
    out += crlf;
    start = end + 1;
  }
  return out;
}

std::string rfc5322_date(time_ms t) {
  const std::time_t secs = static_cast<std::time_t>(t / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} +0000", days[tm.tm_wday], tm.tm_mday,
                     months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw std::runtime_error("curl_global_init failed");
  });
}

struct upload {
  std::string_view data;
  std::size_t pos = 0;
};

std::size_t read_upload(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* u = static_cast<upload*>(user);
  const std::size_t n = std::min(size * count, u->data.size() - u->pos);
  std::copy_n(u->data.data() + u->pos, n, buffer);
  u->pos += n;
  return n;
}

// "$95.00", "$0.012": exact, at least two decimals.
std::string usd(nanos n) {
  std::string s = format_usd(n);
  const auto dot = s.find('.');
  if (dot == std::string::npos) {
    s += ".00";
  } else if (s.size() - dot == 2) {
    s += '0';
  }
  return "$" + s;
}

std::string window_adjective(std::string_view w) {
  if (w == "day") return "daily";
  if (w == "month") return "monthly";
  if (w == "run") return "per-run";
  return std::string(w);  // lifetime, or a window added later
}

std::string scope_text(const alert_subject& s) {
  if (s.kind == alert_scope_kind::global) return "global";
  return fmt::format("{} {}", to_string(s.kind), s.scope_id);
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string reason_text(std::string_view r) {
  if (r == "limit_raised") return "the limit was raised";
  if (r == "limit_removed") return "the limit was removed";
  if (r == "new_period") return "a new period began";
  return std::string(r);
}

std::string reason_short(std::string_view r) {
  if (r == "limit_raised") return "limit raised";
  if (r == "limit_removed") return "limit removed";
  if (r == "new_period") return "new period";
  return std::string(r);
}

// The lines both kinds of alert share.
std::string amounts(const alert_subject& s) {
  std::string out;
  out += fmt::format("Scope:      {}\r\n", scope_text(s));
  out += fmt::format("Team:       {}\r\n", s.team.str());
  out += fmt::format("Window:     {}\r\n", s.window);
  out += fmt::format("Period:     {}\r\n", s.period);
  out += fmt::format("Threshold:  {}%\r\n", s.threshold_percent);
  out += fmt::format("Level:      {}\r\n", s.level);
  out += fmt::format("Limit:      {}\r\n", usd(s.limit));
  out += fmt::format("Spent:      {}\r\n", usd(s.spent));
  if (s.spent > s.limit) {
    out += fmt::format("Remaining:  $0.00 (over by {})\r\n", usd(s.spent - s.limit));
  } else {
    out += fmt::format("Remaining:  {}\r\n", usd(s.limit - s.spent));
  }
  out += fmt::format("Occurrence: {}\r\n", s.occurrence);
  return out;
}

}  // namespace

smtp_relay relay_of(const smtp_config& c) {
  smtp_relay r;
  r.url = c.relay;
  r.starttls = c.starttls;
  r.username = c.username;
  r.from = c.from;
  r.ca_file = c.ca_file;
  r.verify_peer = c.verify_peer;
  r.timeout_ms = static_cast<int>(std::clamp<std::int64_t>(c.timeout_ms, 1, 3'600'000));
  if (!c.password_env.empty()) {
    const char* p = std::getenv(c.password_env.c_str());
    if (p == nullptr) {
      throw std::runtime_error("alerts.email.password_env: the environment variable " +
                               c.password_env + " is not set");
    }
    r.password = p;
  }
  return r;
}

std::string render_email(std::string_view from, const email_message& m, time_ms date) {
  if (!plain_address(from))
    throw std::invalid_argument(
        fmt::format("from '{}' is not an email address", ascii_header_text(from)));
  for (const auto& a : m.to) {
    if (!plain_address(a))
      throw std::invalid_argument(
          fmt::format("'{}' is not an email address", ascii_header_text(a)));
  }
  std::string out;
  auto header = [&](std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += crlf;
  };
  header("Date", rfc5322_date(date));
  header("From", from);
  out += to_header(m.to);
  out += crlf;
  out += subject_header(m.subject);
  out += crlf;
  if (const std::string id = message_id_text(m.message_id); !id.empty())
    header("Message-ID", "<" + id + "@tally>");
  if (const std::string key = ascii_header_text(m.idempotency_key); !key.empty())
    header("X-Tally-Alert-Id", key);
  header("Auto-Submitted", "auto-generated");  // RFC 3834: no vacation replies to alerts
  header("MIME-Version", "1.0");
  header("Content-Type", "text/plain; charset=utf-8");
  header("Content-Transfer-Encoding", "quoted-printable");
  out += crlf;
  out += quoted_printable(m.text);
  return out;
}

smtp_result send_email(const smtp_relay& relay, const email_message& m) {
  smtp_result r;
  if (m.to.empty()) {
    r.error = "no recipients";
    r.permanent = true;
    return r;
  }
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  std::string payload;
  try {
    payload = render_email(relay.from, m, now);
  } catch (const std::invalid_argument& e) {
    r.error = e.what();
    r.permanent = true;
    return r;
  }
  init_curl_once();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h(curl_easy_init(), &curl_easy_cleanup);
  if (!h) {
    r.error = "curl_easy_init failed";
    return r;
  }
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> rcpt(nullptr, &curl_slist_free_all);
  for (const auto& a : m.to) {
    curl_slist* next = curl_slist_append(rcpt.get(), ("<" + a + ">").c_str());
    if (next == nullptr) {
      r.error = "out of memory";
      return r;
    }
    rcpt.release();
    rcpt.reset(next);
  }
  const std::string mail_from = "<" + relay.from + ">";
  upload body{payload};
  char errbuf[CURL_ERROR_SIZE] = {};
  CURL* c = h.get();
  curl_easy_setopt(c, CURLOPT_URL, relay.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM from a worker thread
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(relay.timeout_ms));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(relay.timeout_ms));
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, &read_upload);
  curl_easy_setopt(c, CURLOPT_READDATA, &body);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(payload.size()));
  curl_easy_setopt(c, CURLOPT_USE_SSL, relay.starttls ? CURLUSESSL_ALL : CURLUSESSL_NONE);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, relay.verify_peer ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, relay.verify_peer ? 2L : 0L);
  if (!relay.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, relay.ca_file.c_str());
  if (!relay.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, relay.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, relay.password.c_str());
  }
  const CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.smtp_code);
  if (rc == CURLE_OK) {
    r.ok = true;
    return r;
  }
  r.error = errbuf[0] != '\0' ? fmt::format("{}: {}", curl_easy_strerror(rc), errbuf)
                              : std::string(curl_easy_strerror(rc));
  if (r.smtp_code != 0) r.error += fmt::format(" (reply {})", r.smtp_code);
  // 5xx: the relay refused for good. A malformed or unsupported relay URL never gets better.
  r.permanent = (r.smtp_code >= 500 && r.smtp_code < 600) || rc == CURLE_URL_MALFORMAT ||
                rc == CURLE_UNSUPPORTED_PROTOCOL;
  return r;
}

email_message alert_email(const event& alert, std::vector<std::string> to) {
  email_message m;
  m.to = std::move(to);
  m.message_id = alert.id.str();
  m.idempotency_key = alert.id.str();
  const std::string time = format_rfc3339(alert.time);
  if (const auto* c = std::get_if<budget_threshold_crossed>(&alert.payload)) {
    const std::string what =
        fmt::format("{} {} budget at {}% ({} of {})", scope_text(*c), window_adjective(c->window),
                    c->threshold_percent, usd(c->spent), usd(c->limit));
    m.subject = fmt::format("[Tally] {}: {}", upper(c->level), what);
    m.text = fmt::format("Budget alert ({}): {}.\r\n\r\n", c->level, what);
    if (!c->message.empty()) m.text += c->message + "\r\n\r\n";
    m.text += amounts(*c);
    m.text += fmt::format("Alert id:   {}\r\n", alert.id.str());
    m.text += fmt::format("Caused by:  {}\r\n", c->crossing_event.str());
    m.text += fmt::format("Time:       {}\r\n", time);
  } else if (const auto* r = std::get_if<budget_threshold_resolved>(&alert.payload)) {
    const std::string what = fmt::format("{} {} budget {}% alert", scope_text(*r),
                                         window_adjective(r->window), r->threshold_percent);
    m.subject = fmt::format("[Tally] RESOLVED: {} ({})", what, reason_short(r->reason));
    m.text =
        fmt::format("Budget alert resolved: {}, because {}.\r\n\r\n", what, reason_text(r->reason));
    m.text += amounts(*r);
    m.text += fmt::format("Reason:     {}\r\n", r->reason);
    m.text += fmt::format("Resolves:   {}\r\n", r->alert.str());
    m.text += fmt::format("Alert id:   {}\r\n", alert.id.str());
    m.text += fmt::format("Caused by:  {}\r\n", r->cause_event.str());
    m.text += fmt::format("Time:       {}\r\n", time);
  } else {
    throw std::invalid_argument(fmt::format("event {} ({}) is not a budget alert", alert.id.str(),
                                            event_type_name(alert.payload)));
  }
  m.text += "\r\n-- \r\nTally cost control\r\n";
  return m;
}

}  // namespace tally
