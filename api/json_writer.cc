#include "api/json_writer.h"

#include "schemas/json_text.h"

namespace tally::api {

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
  append_json_string(out_, k);
  out_.push_back(':');
  need_comma_ = false;
  return *this;
}

json_writer& json_writer::string(std::string_view v) {
  comma();
  append_json_string(out_, v);
  return *this;
}

json_writer& json_writer::integer(std::int64_t v) {
  comma();
  append_json_int(out_, v);
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

json_writer& json_writer::key(std::string_view k, std::string_view suffix) {
  comma();
  out_.push_back('"');
  append_json_escaped(out_, k);
  append_json_escaped(out_, suffix);
  out_.append("\":");
  need_comma_ = false;
  return *this;
}

json_writer& json_writer::money(std::string_view k, nanos v) {
  key(k, "_usd").usd(v);
  return key(k, "_nanos").integer(v.count);
}

json_writer& json_writer::money(std::string_view k, std::optional<nanos> v) {
  if (v) return money(k, *v);
  key(k, "_usd").null();
  return key(k, "_nanos").null();
}

}  // namespace tally::api
