#include "api/json_writer.h"

#include <array>
#include <charconv>

namespace tally::api {
namespace {

// The inside of a JSON string literal: '"', '\\' and control characters escaped (short forms
// where JSON has them), everything else, UTF-8 included, as it is: the text Boost.JSON's
// serializer writes.
void append_escaped(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  static constexpr auto plain = [] {  // bytes that go out as they are
    std::array<bool, 256> t{};
    for (int c = 0x20; c < 256; ++c) t[c] = c != '"' && c != '\\';
    return t;
  }();
  std::size_t run = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (plain[c]) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    out.push_back('\\');
    switch (c) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '\b':
        out.push_back('b');
        break;
      case '\f':
        out.push_back('f');
        break;
      case '\n':
        out.push_back('n');
        break;
      case '\r':
        out.push_back('r');
        break;
      case '\t':
        out.push_back('t');
        break;
      default:
        out.append("u00");
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
    }
  }
  out.append(s.data() + run, s.size() - run);
}

void append_quoted(std::string& out, std::string_view s) {
  out.push_back('"');
  append_escaped(out, s);
  out.push_back('"');
}

}  // namespace

void json_writer::comma() {
  if (need_comma_) out_.push_back(',');
  need_comma_ = true;
}

json_writer& json_writer::begin_object() {
  comma();
  out_.push_back('{');
  need_comma_ = false;
  return *this;
}

json_writer& json_writer::end_object() {
  out_.push_back('}');
  need_comma_ = true;
  return *this;
}

json_writer& json_writer::begin_array() {
  comma();
  out_.push_back('[');
  need_comma_ = false;
  return *this;
}

json_writer& json_writer::end_array() {
  out_.push_back(']');
  need_comma_ = true;
  return *this;
}

json_writer& json_writer::key(std::string_view k) {
  comma();
  append_quoted(out_, k);
  out_.push_back(':');
  need_comma_ = false;
  return *this;
}

json_writer& json_writer::string(std::string_view v) {
  comma();
  append_quoted(out_, v);
  return *this;
}

json_writer& json_writer::integer(std::int64_t v) {
  comma();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
  return *this;
}

json_writer& json_writer::boolean(bool v) {
  comma();
  out_.append(v ? "true" : "false");
  return *this;
}

json_writer& json_writer::null() {
  comma();
  out_.append("null");
  return *this;
}

json_writer& json_writer::usd(nanos v) {
  comma();
  out_.append(format_usd(v));
  return *this;
}

json_writer& json_writer::raw(std::string_view json) {
  comma();
  out_.append(json);
  return *this;
}

json_writer& json_writer::suffixed_key(std::string_view k, std::string_view suffix) {
  comma();
  out_.push_back('"');
  append_escaped(out_, k);
  append_escaped(out_, suffix);
  out_.append("\":");
  need_comma_ = false;
  return *this;
}

json_writer& json_writer::money(std::string_view k, nanos v) {
  suffixed_key(k, "_usd").usd(v);
  return suffixed_key(k, "_nanos").integer(v.count);
}

json_writer& json_writer::money(std::string_view k, std::optional<nanos> v) {
  if (v) return money(k, *v);
  suffixed_key(k, "_usd").null();
  return suffixed_key(k, "_nanos").null();
}

}  // namespace tally::api
