#include "api/request_body.h"

#include <charconv>
#include <cstring>
#include <stdexcept>

#include <simdjson.h>

namespace tally::api {
namespace od = simdjson::ondemand;

namespace {

[[noreturn]] void bad_body(std::string detail) {
  throw api_error(http::status::bad_request, "malformed_json", std::move(detail));
}

[[noreturn]] void bad_field(std::string_view k, std::string_view want) {
  throw api_error(http::status::unprocessable_entity, "bad_field",
                  std::string(k) + " must be " + std::string(want));
}

std::string_view trim(std::string_view raw) {
  while (!raw.empty() &&
         (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\t' || raw.back() == '\r')) {
    raw.remove_suffix(1);
  }
  return raw;
}

// Refuses (422 unknown_field) the first field whose name is not allowed.
template <class Fields, class Allowed>
void refuse_unknown_fields(const Fields& fields, Allowed allowed) {
  for (auto& [name, f] : fields) {
    if (!allowed(name)) {
      throw api_error(http::status::unprocessable_entity, "unknown_field",
                      "unknown field: " + std::string(name));
    }
  }
}

bool is_integer_token(std::string_view t) {
  if (t.empty()) return false;
  return t.find_first_of(".eE") == std::string_view::npos;
}

}  // namespace

// Reads an object's fields into a body. The top level throws at the first problem. An item of an
// array of objects (read in the same pass, not parsed again) keeps a field named twice as its own
// error and reads on, so that only that item is refused; what simdjson itself refuses still
// throws (the JSON guard has validated the whole body by then).
//
// Strings are unescaped into the body's text buffer after the document (and its padding), which
// was sized for them before the parse: an unescaped string is never longer than its JSON text,
// so the buffer never moves and every view into it stays good. Numbers and objects are views of
// the document itself.
class request_body::reader {
 public:
  explicit reader(std::shared_ptr<std::string> text) : text_(std::move(text)) {}

  void object(od::object& obj, request_body& b, bool item) {
    for (auto f : obj) {
      std::string_view key;
      od::value v;
      if (f.unescaped_key().get(key) || f.value().get(v)) bad_body("the body is not valid JSON");
      const std::string_view k = keep(key);
      field out;
      value(v, k, out);
      if (b.find(k)) {
        if (!item) bad_body("field " + std::string(k) + " appears twice");
        if (!b.error_) {
          b.error_.emplace(http::status::bad_request, "malformed_json",
                           "field " + std::string(k) + " appears twice");
        }
        continue;
      }
      b.fields_.emplace_back(k, std::move(out));
    }
  }

 private:
  // A copy of an unescaped string (simdjson's buffer is reused) in the body's text.
  std::string_view keep(std::string_view s) {
    std::string& buf = *text_;
    if (buf.size() + s.size() > buf.capacity()) {
      throw std::logic_error("request_body: the text buffer was sized too small");
    }
    const std::size_t at = buf.size();
    buf.append(s);
    return std::string_view(buf).substr(at, s.size());
  }

  void value(od::value& v, std::string_view k, field& out) {
    od::json_type t;
    if (v.type().get(t)) bad_body("the body is not valid JSON");
    switch (t) {
      case od::json_type::string: {
        std::string_view s;
        if (v.get_string().get(s)) bad_body("field " + std::string(k) + " is not a valid string");
        out.kind = 's';
        out.text = keep(s);
        break;
      }
      case od::json_type::number:
        out.kind = 'n';
        out.text = trim(v.raw_json_token());
        break;
      case od::json_type::boolean: {
        bool x = false;
        if (v.get_bool().get(x)) bad_body("field " + std::string(k) + " is not valid JSON");
        out.kind = 'b';
        out.text = x ? "true" : "false";
        break;
      }
      case od::json_type::null: {
        // is_null() is a result: converting it to bool throws on "nul" or "null)" (found by
        // tests/fuzz/fuzz_decoders).
        bool null = false;
        if (v.is_null().get(null) || !null) {
          bad_body("field " + std::string(k) + " is not valid JSON");
        }
        out.kind = 'z';
        break;
      }
      case od::json_type::array:
        array(v, k, out);
        break;
      case od::json_type::object: {
        std::string_view raw;
        od::object inner;
        if (v.get_object().get(inner) || inner.raw_json().get(raw)) {
          bad_body("field " + std::string(k) + " is not valid JSON");
        }
        out.kind = 'o';
        out.text = raw;
        break;
      }
    }
  }

  // An array of strings ('a'), of objects ('O', each read as a body) or anything else ('A').
  void array(od::value& v, std::string_view k, field& out) {
    od::array a;
    std::size_t count = 0;
    if (v.get_array().get(a) || a.count_elements().get(count)) {
      bad_body("field " + std::string(k) + " is not valid JSON");
    }
    out.kind = 'a';
    for (auto item : a) {
      od::value iv;
      if (item.get(iv)) bad_body("field " + std::string(k) + " is not valid JSON");
      std::string_view s;
      od::json_type it;
      if (iv.type().get(it)) bad_body("field " + std::string(k) + " is not valid JSON");
      const bool first = out.items.empty() && !out.objects && out.kind == 'a';
      if (it == od::json_type::string && out.kind == 'a' && !iv.get_string().get(s)) {
        out.items.push_back(keep(s));
      } else if (it == od::json_type::object && (first || out.kind == 'O')) {
        od::object inner;
        if (iv.get_object().get(inner)) bad_body("field " + std::string(k) + " is not valid JSON");
        out.kind = 'O';
        if (!out.objects) {
          // Sized once (a body keeps its fields inline: growing would move every item).
          out.objects = std::make_shared<std::vector<request_body>>();
          out.objects->reserve(count);
        }
        auto& body = out.objects->emplace_back();
        body.text_ = text_;
        object(inner, body, true);
      } else {
        out.items.clear();
        out.objects.reset();
        out.kind = 'A';
        // Consume the element so iteration continues.
        bool bad = false;
        if (it == od::json_type::array) {
          od::array inner;
          bad = iv.get_array().get(inner) || inner.raw_json().error();
        } else if (it == od::json_type::object) {
          od::object inner;
          bad = iv.get_object().get(inner) || inner.raw_json().error();
        } else {
          (void)iv.raw_json_token();
        }
        if (bad) bad_body("field " + std::string(k) + " is not valid JSON");
      }
    }
  }

  std::shared_ptr<std::string> text_;  // the body's text, shared by its items
};

request_body request_body::parse(std::string_view json) {
  request_body b;
  auto blank = json.find_first_not_of(" \t\r\n");
  if (blank == std::string_view::npos) return b;
  // The document, simdjson's padding, then room for every string unescaped (see reader).
  auto text = std::make_shared<std::string>();
  text->reserve(2 * json.size() + simdjson::SIMDJSON_PADDING);
  text->assign(json);
  text->resize(json.size() + simdjson::SIMDJSON_PADDING, '\0');
  b.text_ = text;
  thread_local od::parser parser;
  od::document doc;
  if (parser.iterate(simdjson::padded_string_view(text->data(), json.size(), text->size()))
          .get(doc)) {
    bad_body("the body is not JSON");
  }
  od::object obj;
  if (doc.get_object().get(obj)) bad_body("the body must be a JSON object");
  reader(text).object(obj, b, false);
  // Trailing content after the object is refused by the JSON guard before the handler runs
  // (simdjson 3.0's on-demand document cannot tell).
  return b;
}

const request_body::field* request_body::find(std::string_view k) const {
  for (auto& [name, f] : fields_) {
    if (name == k) return &f;
  }
  return nullptr;
}

bool request_body::is_null(std::string_view k) const {
  auto* f = find(k);
  return f && f->kind == 'z';
}

std::optional<std::string> request_body::text(std::string_view k) const {
  auto* f = find(k);
  if (!f || f->kind == 'z') return std::nullopt;
  if (f->kind != 's') bad_field(k, "a string");
  return std::string(f->text);
}

std::optional<std::string> request_body::id(std::string_view k) const {
  auto* f = find(k);
  if (!f || f->kind == 'z') return std::nullopt;
  if (f->kind == 's') return std::string(f->text);
  if (f->kind == 'n' && is_integer_token(f->text) && f->text[0] != '-') {
    return std::string(f->text);
  }
  bad_field(k, "a string or a non-negative integer");
}

std::optional<std::int64_t> request_body::integer(std::string_view k) const {
  auto* f = find(k);
  if (!f || f->kind == 'z') return std::nullopt;
  std::int64_t v = 0;
  if (f->kind == 'n' && is_integer_token(f->text)) {
    auto [p, ec] = std::from_chars(f->text.data(), f->text.data() + f->text.size(), v);
    if (ec == std::errc() && p == f->text.data() + f->text.size()) return v;
  }
  bad_field(k, "an integer");
}

std::optional<bool> request_body::boolean(std::string_view k) const {
  auto* f = find(k);
  if (!f || f->kind == 'z') return std::nullopt;
  if (f->kind != 'b') bad_field(k, "true or false");
  return f->text == "true";
}

std::optional<nanos> request_body::usd(std::string_view k) const {
  auto* f = find(k);
  if (!f || f->kind == 'z') return std::nullopt;
  if (f->kind == 'n') {
    if (auto v = parse_usd(f->text)) return *v;
  }
  bad_field(k, "a number of US dollars within range");
}

std::optional<nanos> request_body::cents(std::string_view k) const {
  auto* f = find(k);
  if (!f || f->kind == 'z') return std::nullopt;
  if (f->kind == 'n') {
    if (auto v = parse_cents(f->text)) return *v;
  }
  bad_field(k, "a number of US cents within range");
}

std::optional<std::span<const request_body>> request_body::objects(std::string_view k) const {
  auto* f = find(k);
  if (!f || f->kind == 'z') return std::nullopt;
  if (f->kind == 'a' && f->items.empty()) return std::span<const request_body>{};
  if (f->kind != 'O') bad_field(k, "an array of objects");
  return std::span<const request_body>(*f->objects);
}

void request_body::check() const {
  if (error_) throw *error_;
}

std::optional<std::vector<std::string>> request_body::strings(std::string_view k) const {
  auto* f = find(k);
  if (!f || f->kind == 'z') return std::nullopt;
  if (f->kind != 'a') bad_field(k, "an array of strings");
  return std::vector<std::string>(f->items.begin(), f->items.end());
}

boost::system::result<raw_usage_fields> request_body::usage_fields() const {
  usage_fields_reader reader;
  for (const auto& [name, f] : fields_) {
    using k = usage_fields_reader::kind;
    reader.field(name,
                 f.kind == 'z'   ? k::null
                 : f.kind == 'n' ? k::number
                 : f.kind == 'o' ? k::object
                                 : k::other,
                 f.text);
  }
  return reader.finish();
}

request_body::field_set::field_set(std::initializer_list<std::string_view> names) {
  for (auto n : names) {
    if (n.size() > max_length) throw std::logic_error("field name too long for a field_set");
    by_length_[n.size()].push_back(n);
  }
}

bool request_body::field_set::contains(std::string_view name) const {
  if (name.size() > max_length) return false;
  for (auto n : by_length_[name.size()]) {
    if (std::memcmp(n.data(), name.data(), name.size()) == 0) return true;
  }
  return false;
}

void request_body::allow_only(const field_set& allowed) const {
  refuse_unknown_fields(fields_, [&](std::string_view name) { return allowed.contains(name); });
}

void request_body::allow_only(std::initializer_list<std::string_view> allowed) const {
  refuse_unknown_fields(fields_, [&](std::string_view name) {
    for (auto a : allowed) {
      if (a == name) return true;
    }
    return false;
  });
}

}  // namespace tally::api
