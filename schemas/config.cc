// config.yaml loader. Every error names the YAML path and line, because a config problem is
// found by an operator reading a log line, not a debugger.
#include "schemas/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <set>
#include <sstream>
#include <stdexcept>

#include <date/date.h>
#include <date/tz.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

namespace tally {
namespace {

using error = std::optional<config_error>;

int line_of(const YAML::Node& node) {
  // yaml-cpp counts lines from 0 and uses -1 for nodes without a position.
  const int line = node.Mark().line;
  return line < 0 ? 0 : line + 1;
}

config_error error_at(const YAML::Node& node, std::string_view path, std::string_view what) {
  const int line = line_of(node);
  return {fmt::format("line {}: {}: {}", line, path, what), line};
}

std::string join(std::initializer_list<std::string_view> names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

config_error unknown_key(const YAML::Node& key_node, std::string_view path,
                         std::initializer_list<std::string_view> expected) {
  return error_at(key_node, path, fmt::format("unknown key (expected one of: {})", join(expected)));
}

// Calls fn(key, key_node, value_node) for each entry of a mapping, refusing duplicate keys
// (yaml-cpp keeps both, and a lookup would silently take the first). Null = empty mapping.
error for_each_entry(
    const YAML::Node& map, const std::string& path,
    const std::function<error(const std::string&, const YAML::Node&, const YAML::Node&)>& fn) {
  if (map.IsNull()) return std::nullopt;
  if (!map.IsMap()) return error_at(map, path, "expected a mapping");
  std::set<std::string> seen;
  for (const auto& kv : map) {
    if (!kv.first.IsScalar()) return error_at(kv.first, path, "keys must be plain strings");
    const std::string& key = kv.first.Scalar();
    const std::string child = path.empty() ? key : path + "." + key;
    if (!seen.insert(key).second) return error_at(kv.first, child, "duplicate key");
    if (auto e = fn(key, kv.first, kv.second)) return e;
  }
  return std::nullopt;
}

config_result<std::string> read_string(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) return error_at(node, path, "expected a string");
  return config_result<std::string>(boost::system::in_place_value, node.Scalar());
}

// Strict decimal integer; YAML's other integer spellings (0x10, 1_000, +5) are refused rather
// than guessed at.
config_result<std::int64_t> read_int(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) return error_at(node, path, "expected an integer");
  std::string_view s = node.Scalar();
  std::string_view digits = s;
  bool negative = false;
  if (!digits.empty() && digits.front() == '-') {
    negative = true;
    digits.remove_prefix(1);
  }
  if (digits.empty()) return error_at(node, path, fmt::format("'{}' is not an integer", s));
  std::int64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return error_at(node, path, fmt::format("'{}' is not an integer", s));
    if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, c - '0', &value))
      return error_at(node, path, fmt::format("'{}' is out of range", s));
  }
  return negative ? -value : value;
}

config_result<std::int64_t> read_non_negative_int(const YAML::Node& node, const std::string& path) {
  auto v = read_int(node, path);
  if (v && *v < 0) return error_at(node, path, "must not be negative");
  return v;
}

// Money: the scalar's text through parse_usd (or parse_cents), exactly as written.
config_result<nanos> read_money(const YAML::Node& node, const std::string& path, bool cents) {
  if (!node.IsScalar()) return error_at(node, path, "expected a decimal amount");
  const std::string& text = node.Scalar();
  auto n = cents ? parse_cents(text) : parse_usd(text);
  if (!n) {
    return error_at(node, path,
                    fmt::format("'{}' is not a decimal amount ({})", text, n.error().message()));
  }
  if (n->count < 0) return error_at(node, path, "must not be negative");
  return *n;
}

config_result<bool> read_bool(const YAML::Node& node, const std::string& path) {
  if (node.IsScalar()) {
    std::string s = node.Scalar();
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
  }
  return error_at(node, path, "expected true or false");
}

bool is_known_zone(const std::string& name) {
  // UTC needs no database, so a container without tzdata still starts with the default.
  if (name == "UTC" || name == "Etc/UTC") return true;
  try {
    return date::locate_zone(name) != nullptr;
  } catch (const std::exception&) {
    return false;
  }
}

// ---- limits ----

error parse_limit_values(const YAML::Node& node, const std::string& path, limit_values& out) {
  std::set<std::string> set;  // canonical names already given, to catch synonyms used twice
  return for_each_entry(
      node, path, [&](const std::string& key, const YAML::Node& k, const YAML::Node& v) -> error {
        const std::string p = path + "." + key;
        auto canonical = [&](std::string_view name) -> error {
          if (!set.insert(std::string(name)).second)
            return error_at(k, p, fmt::format("{} is already set (synonyms name one limit)", name));
          return std::nullopt;
        };
        auto money = [&](std::optional<nanos>& slot, std::string_view name, bool cents) -> error {
          if (auto e = canonical(name)) return e;
          if (v.IsNull()) return std::nullopt;  // explicitly "no limit"
          auto n = read_money(v, p, cents);
          if (!n) return n.error();
          slot = *n;
          return std::nullopt;
        };
        auto count = [&](std::optional<std::int64_t>& slot, std::string_view name) -> error {
          if (auto e = canonical(name)) return e;
          if (v.IsNull()) return std::nullopt;
          auto n = read_non_negative_int(v, p);
          if (!n) return n.error();
          slot = *n;
          return std::nullopt;
        };
        if (key == "max_cost_per_day" || key == "daily_cost_limit_usd")
          return money(out.max_cost_per_day, "max_cost_per_day", false);
        if (key == "max_cost_per_month" || key == "monthly_cost_limit_usd")
          return money(out.max_cost_per_month, "max_cost_per_month", false);
        if (key == "monthly_budget_cents")
          return money(out.max_cost_per_month, "max_cost_per_month", true);
        if (key == "max_cost_per_run")
          return money(out.max_cost_per_run, "max_cost_per_run", false);
        if (key == "max_tokens_per_day") return count(out.max_tokens_per_day, key);
        if (key == "max_tokens_per_month") return count(out.max_tokens_per_month, key);
        if (key == "max_tokens_per_run") return count(out.max_tokens_per_run, key);
        if (key == "max_concurrent_agents") return count(out.max_concurrent_agents, key);
        return unknown_key(
            k, p,
            {"max_cost_per_day", "max_cost_per_month", "max_cost_per_run", "max_tokens_per_day",
             "max_tokens_per_month", "max_tokens_per_run", "max_concurrent_agents",
             "daily_cost_limit_usd", "monthly_cost_limit_usd", "monthly_budget_cents"});
      });
}

error parse_limits(const YAML::Node& node, tally_config& cfg, std::set<std::string>& team_limits) {
  bool have_team_section = false;
  return for_each_entry(
      node, "limits",
      [&](const std::string& key, const YAML::Node& k, const YAML::Node& v) -> error {
        const std::string p = "limits." + key;
        if (key == "global") return parse_limit_values(v, p, cfg.limits.global);
        if (key == "per_project" || key == "per_team" || key == "per_workspace") {
          if (have_team_section)
            return error_at(k, p, "use one of per_project, per_team, per_workspace (same thing)");
          have_team_section = true;
          return for_each_entry(
              v, p,
              [&](const std::string& id, const YAML::Node& idk, const YAML::Node& values) -> error {
                if (id == "default")
                  return parse_limit_values(values, p + ".default", cfg.limits.team_default);
                // per_project.<id> is an override for that team, like projects.<id>.limits.
                if (!team_limits.insert(id).second)
                  return error_at(idk, p + "." + id,
                                  "limits for this team are already given under its "
                                  "teams/projects/workspaces entry");
                auto [it, inserted] = cfg.teams.try_emplace(id);
                if (inserted) it->second.name = id;
                return parse_limit_values(values, p + "." + id, it->second.limits);
              });
        }
        if (key == "per_agent") {
          return for_each_entry(
              v, p,
              [&](const std::string& id, const YAML::Node&, const YAML::Node& values) -> error {
                limit_values& target =
                    id == "default" ? cfg.limits.agent_default : cfg.limits.agents[id];
                return parse_limit_values(values, p + "." + id, target);
              });
        }
        return unknown_key(k, p,
                           {"global", "per_project", "per_team", "per_workspace", "per_agent"});
      });
}

// ---- teams ----

error parse_teams(const YAML::Node& node, const std::string& section, tally_config& cfg,
                  std::set<std::string>& team_limits) {
  return for_each_entry(
      node, section,
      [&](const std::string& id, const YAML::Node& idk, const YAML::Node& v) -> error {
        const std::string p = section + "." + id;
        auto [it, inserted] = cfg.teams.try_emplace(id);
        if (!inserted) return error_at(idk, p, "team defined twice (teams, projects, workspaces)");
        team_config& team = it->second;
        team.name = id;
        return for_each_entry(
            v, p,
            [&](const std::string& key, const YAML::Node& k, const YAML::Node& value) -> error {
              const std::string q = p + "." + key;
              if (key == "name") {
                auto s = read_string(value, q);
                if (!s) return s.error();
                team.name = *s;
                return std::nullopt;
              }
              if (key == "timezone") {
                auto s = read_string(value, q);
                if (!s) return s.error();
                if (!is_known_zone(*s))
                  return error_at(value, q, fmt::format("unknown IANA time zone '{}'", *s));
                team.timezone = *s;
                return std::nullopt;
              }
              if (key == "limits") {
                team_limits.insert(id);
                return parse_limit_values(value, q, team.limits);
              }
              return unknown_key(k, q, {"name", "timezone", "limits"});
            });
      });
}

// ---- pricing ----

error parse_model(const YAML::Node& node, const std::string& path, model_price& out) {
  std::optional<nanos> in, outp, cw, cr;
  auto e = for_each_entry(
      node, path, [&](const std::string& key, const YAML::Node& k, const YAML::Node& v) -> error {
        std::optional<nanos>* slot = nullptr;
        if (key == "input_per_million") {
          slot = &in;
        } else if (key == "output_per_million") {
          slot = &outp;
        } else if (key == "cache_write_per_million") {
          slot = &cw;
        } else if (key == "cache_read_per_million") {
          slot = &cr;
        } else {
          return unknown_key(k, path + "." + key,
                             {"input_per_million", "output_per_million", "cache_write_per_million",
                              "cache_read_per_million"});
        }
        auto n = read_money(v, path + "." + key, false);
        if (!n) return n.error();
        *slot = *n;
        return std::nullopt;
      });
  if (e) return e;
  if (!node.IsMap()) return error_at(node, path, "expected a mapping of prices");
  if (!in) return error_at(node, path, "input_per_million is required");
  if (!outp) return error_at(node, path, "output_per_million is required");
  out = make_model_price(*in, *outp, cw, cr);
  return std::nullopt;
}

struct alias_entry {
  std::string glob;
  std::string model;
  YAML::Node where;
};

error parse_aliases(const YAML::Node& node, const std::string& path,
                    std::vector<alias_entry>& out) {
  if (node.IsSequence()) {
    // [{glob: "claude-sonnet-4*", model: sonnet}, ...]
    for (std::size_t i = 0; i < node.size(); ++i) {
      const std::string p = fmt::format("{}[{}]", path, i);
      alias_entry a{.where = node[i]};
      auto e = for_each_entry(
          node[i], p,
          [&](const std::string& key, const YAML::Node& k, const YAML::Node& v) -> error {
            std::string* slot = key == "glob" ? &a.glob : key == "model" ? &a.model : nullptr;
            if (slot == nullptr) return unknown_key(k, p + "." + key, {"glob", "model"});
            auto s = read_string(v, p + "." + key);
            if (!s) return s.error();
            *slot = *s;
            return std::nullopt;
          });
      if (e) return e;
      if (a.glob.empty() || a.model.empty())
        return error_at(node[i], p, "an alias needs a non-empty glob and model");
      out.push_back(std::move(a));
    }
    return std::nullopt;
  }
  // {"claude-sonnet-4*": sonnet, ...}; yaml-cpp keeps declaration order, which is match order.
  return for_each_entry(
      node, path, [&](const std::string& glob, const YAML::Node& k, const YAML::Node& v) -> error {
        auto s = read_string(v, path + "." + glob);
        if (!s) return s.error();
        if (glob.empty()) return error_at(k, path, "empty alias glob");
        out.push_back({glob, *s, k});
        return std::nullopt;
      });
}

error parse_version(const YAML::Node& node, const std::string& path, price_version& out) {
  std::optional<std::int64_t> effective_from, last_updated;
  std::vector<alias_entry> aliases;
  bool have_models = false;
  auto time = [&](const YAML::Node& v, const std::string& p,
                  std::optional<std::int64_t>& slot) -> error {
    auto s = read_string(v, p);
    if (!s) return s.error();
    auto t = parse_time_ms(*s);
    if (!t) return error_at(v, p, t.error().message);
    slot = *t;
    return std::nullopt;
  };
  auto e = for_each_entry(
      node, path, [&](const std::string& key, const YAML::Node& k, const YAML::Node& v) -> error {
        const std::string p = path + "." + key;
        if (key == "id") {
          auto s = read_string(v, p);
          if (!s) return s.error();
          out.id = *s;
          return std::nullopt;
        }
        if (key == "effective_from") return time(v, p, effective_from);
        if (key == "last_updated") return time(v, p, last_updated);
        if (key == "aliases") return parse_aliases(v, p, aliases);
        if (key == "models") {
          have_models = true;
          return for_each_entry(
              v, p,
              [&](const std::string& model, const YAML::Node&, const YAML::Node& price) -> error {
                return parse_model(price, p + "." + model, out.models[model]);
              });
        }
        return unknown_key(k, p, {"id", "effective_from", "last_updated", "models", "aliases"});
      });
  if (e) return e;
  if (!have_models || out.models.empty()) return error_at(node, path, "models is required");
  for (auto& a : aliases) {
    if (!out.models.contains(a.model)) {
      return error_at(a.where, path + ".aliases." + a.glob,
                      fmt::format("alias target '{}' is not a model of this version", a.model));
    }
    out.aliases.emplace_back(std::move(a.glob), std::move(a.model));
  }
  // The seed's single-version shape says when the table was last edited; that is when these
  // prices took effect as far as the config knows.
  out.effective_from_ms = effective_from.value_or(last_updated.value_or(0));
  return std::nullopt;
}

error parse_pricing(const YAML::Node& node, std::vector<price_version>& out) {
  if (node.IsNull()) return std::nullopt;
  std::vector<std::pair<price_version, YAML::Node>> versions;
  auto parse_list = [&](const YAML::Node& list, const std::string& path) -> error {
    if (!list.IsSequence()) return error_at(list, path, "expected a list of price versions");
    for (std::size_t i = 0; i < list.size(); ++i) {
      price_version v;
      if (auto e = parse_version(list[i], fmt::format("{}[{}]", path, i), v)) return e;
      versions.emplace_back(std::move(v), list[i]);
    }
    return std::nullopt;
  };
  if (node.IsSequence()) {
    if (auto e = parse_list(node, "pricing")) return e;
  } else if (node.IsMap()) {
    bool has_versions = false;
    for (const auto& kv : node) {
      if (kv.first.IsScalar() && kv.first.Scalar() == "versions") has_versions = true;
    }
    if (has_versions) {
      auto e = for_each_entry(
          node, "pricing",
          [&](const std::string& key, const YAML::Node& k, const YAML::Node& v) -> error {
            if (key == "versions") return parse_list(v, "pricing.versions");
            return unknown_key(k, "pricing." + key, {"versions"});
          });
      if (e) return e;
    } else {
      price_version v;
      if (auto e = parse_version(node, "pricing", v)) return e;
      versions.emplace_back(std::move(v), node);
    }
  } else {
    return error_at(node, "pricing", "expected a mapping or a list of versions");
  }

  std::set<std::string> ids;
  std::set<std::int64_t> froms;
  for (auto& [v, where] : versions) {
    if (v.id.empty()) v.id = derive_price_version_id(v);
    if (!ids.insert(v.id).second)
      return error_at(where, "pricing", fmt::format("duplicate price version id '{}'", v.id));
    if (!froms.insert(v.effective_from_ms).second)
      return error_at(where, "pricing", "two price versions with the same effective_from");
    if (auto ok = validate_price_version(v); !ok)
      return error_at(where, "pricing", ok.error().message());
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end(), [](const price_version& a, const price_version& b) {
    return a.effective_from_ms < b.effective_from_ms;
  });
  return std::nullopt;
}

// ---- alerts ----

config_result<std::int64_t> read_duration(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) return error_at(node, path, "expected a duration like 10s, 5m or 2h");
  auto d = parse_duration_ms(node.Scalar());
  if (!d) return error_at(node, path, d.error().message);
  return *d;
}

// What is wrong with a webhook signing secret, or nothing. Never quotes the secret.
std::optional<std::string> secret_problem(std::string_view secret) {
  constexpr std::string_view prefix = "whsec_";
  if (!secret.starts_with(prefix)) return "must start with whsec_";
  std::string_view b64 = secret.substr(prefix.size());
  std::size_t pad = 0;
  while (pad < 2 && pad < b64.size() && b64[b64.size() - 1 - pad] == '=') ++pad;
  const bool alphabet =
      std::all_of(b64.begin(), b64.end() - static_cast<std::ptrdiff_t>(pad),
                  [](unsigned char c) { return std::isalnum(c) != 0 || c == '+' || c == '/'; });
  if (b64.empty() || b64.size() % 4 != 0 || !alphabet)
    return "the part after whsec_ is not base64 (A-Z a-z 0-9 + /, padded with = to a multiple "
           "of 4)";
  std::string out(b64.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(b64.data()),
                                static_cast<int>(b64.size()));
  if (n < 0) return "the part after whsec_ is not base64";
  // EVP_DecodeBlock counts the bytes the padding stands for as zeros.
  const auto bytes = static_cast<std::size_t>(n) - pad;
  if (bytes < 16) return fmt::format("decodes to {} bytes; at least 16 are needed", bytes);
  return std::nullopt;
}

bool is_env_name(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s.front())) != 0) return false;
  return std::all_of(s.begin(), s.end(),
                     [](unsigned char c) { return std::isalnum(c) != 0 || c == '_'; });
}

error parse_notification(const YAML::Node& node, const std::string& q, notification_config& n) {
  // Where the filters were given, to point at them when they do not apply.
  std::optional<YAML::Node> filter_at, secret_at;
  auto e = for_each_entry(
      node, q, [&](const std::string& nk, const YAML::Node& nkn, const YAML::Node& nv) -> error {
        const std::string r = q + "." + nk;
        if (nk == "type") {
          auto s = read_string(nv, r);
          if (!s) return s.error();
          if (*s != "in_app" && *s != "email" && *s != "webhook")
            return error_at(nv, r, "expected in_app, email or webhook");
          n.type = *s;
          return std::nullopt;
        }
        if (nk == "enabled") {
          auto b = read_bool(nv, r);
          if (!b) return b.error();
          n.enabled = *b;
          return std::nullopt;
        }
        if (nk == "recipients") {
          if (!nv.IsSequence()) return error_at(nv, r, "expected a list of addresses");
          for (std::size_t j = 0; j < nv.size(); ++j) {
            auto s = read_string(nv[j], fmt::format("{}[{}]", r, j));
            if (!s) return s.error();
            if (s->find('@') == std::string::npos ||
                s->find_first_of(" \t\r\n<>,;\"") != std::string::npos)
              return error_at(nv[j], r, fmt::format("'{}' is not an email address", *s));
            n.recipients.push_back(*s);
          }
          return std::nullopt;
        }
        if (nk == "url") {
          auto s = read_string(nv, r);
          if (!s) return s.error();
          if (!s->starts_with("https://") && !s->starts_with("http://"))
            return error_at(nv, r, "expected an http:// or https:// URL");
          n.url = *s;
          return std::nullopt;
        }
        if (nk == "min_level") {
          auto s = read_string(nv, r);
          if (!s) return s.error();
          if (alert_level_rank(*s) == 0)
            return error_at(nv, r, "expected info, warning, critical or exceeded");
          n.min_level = *s;
          filter_at = nkn;
          return std::nullopt;
        }
        if (nk == "team_id") {
          auto s = read_string(nv, r);
          if (!s) return s.error();
          if (s->empty()) return error_at(nv, r, "expected a team id");
          n.team_id = *s;
          filter_at = nkn;
          return std::nullopt;
        }
        if (nk == "secret") {
          auto s = read_string(nv, r);
          if (!s) return s.error();
          if (auto why = secret_problem(*s)) return error_at(nv, r, *why);
          n.secret = *s;
          secret_at = nkn;
          return std::nullopt;
        }
        return unknown_key(
            nkn, r, {"type", "enabled", "recipients", "url", "min_level", "team_id", "secret"});
      });
  if (e) return e;
  if (n.type.empty()) return error_at(node, q, "type is required");
  if (n.type != "email" && !n.recipients.empty())
    return error_at(node, q, "recipients belong to an email notification");
  if (n.type != "webhook" && !n.url.empty())
    return error_at(node, q, "url belongs to a webhook notification");
  if (n.enabled && n.type == "email" && n.recipients.empty())
    return error_at(node, q, "an enabled email notification needs recipients");
  if (n.enabled && n.type == "webhook" && n.url.empty())
    return error_at(node, q, "an enabled webhook notification needs a url");
  if (filter_at && !n.is_rule())
    return error_at(*filter_at, q,
                    "min_level and team_id filter a delivery rule: an email entry with "
                    "recipients or a webhook entry with a url");
  if (secret_at && (n.type != "webhook" || n.url.empty()))
    return error_at(*secret_at, q + ".secret", "a secret belongs to a webhook entry with a url");
  if (n.enabled && n.type == "webhook" && n.secret.empty())
    return error_at(node, q,
                    "an enabled webhook notification needs a secret (whsec_ + base64 of at least "
                    "16 random bytes, e.g. \"whsec_$(openssl rand -base64 32)\")");
  return std::nullopt;
}

error parse_smtp(const YAML::Node& node, const std::string& path, smtp_config& c) {
  std::optional<YAML::Node> starttls_at;
  auto e = for_each_entry(
      node, path, [&](const std::string& key, const YAML::Node& k, const YAML::Node& v) -> error {
        const std::string p = path + "." + key;
        auto text = [&](std::string& slot) -> error {
          auto s = read_string(v, p);
          if (!s) return s.error();
          slot = *s;
          return std::nullopt;
        };
        auto flag = [&](bool& slot) -> error {
          auto b = read_bool(v, p);
          if (!b) return b.error();
          slot = *b;
          return std::nullopt;
        };
        if (key == "relay") {
          if (auto err = text(c.relay)) return err;
          std::string_view rest = c.relay;
          if (rest.starts_with("smtp://")) {
            rest.remove_prefix(7);
          } else if (rest.starts_with("smtps://")) {
            rest.remove_prefix(8);
          } else {
            return error_at(v, p, "expected smtp://host:port or smtps://host:port");
          }
          if (rest.empty() || rest.front() == ':' || rest.front() == '/')
            return error_at(v, p, "the relay URL has no host");
          if (c.relay.find_first_of(" \t\r\n") != std::string::npos)
            return error_at(v, p, "the relay URL contains white space");
          return std::nullopt;
        }
        if (key == "starttls") {
          starttls_at = k;
          return flag(c.starttls);
        }
        if (key == "verify_peer") return flag(c.verify_peer);
        if (key == "username") return text(c.username);
        if (key == "password_env") {
          if (auto err = text(c.password_env)) return err;
          if (!is_env_name(c.password_env))
            return error_at(v, p,
                            "expected the NAME of an environment variable holding the password "
                            "(letters, digits, _), never the password itself");
          return std::nullopt;
        }
        if (key == "from") {
          if (auto err = text(c.from)) return err;
          if (c.from.find('@') == std::string::npos ||
              c.from.find_first_of(" \t\r\n<>,;\"") != std::string::npos)
            return error_at(v, p, fmt::format("'{}' is not an email address", c.from));
          return std::nullopt;
        }
        if (key == "ca_file") {
          if (auto err = text(c.ca_file)) return err;
          std::ifstream in(c.ca_file);
          if (!in)
            return error_at(v, p,
                            fmt::format("cannot read '{}': {}", c.ca_file, std::strerror(errno)));
          return std::nullopt;
        }
        if (key == "timeout") {
          auto d = read_duration(v, p);
          if (!d) return d.error();
          if (*d <= 0 || *d > 3'600'000)
            return error_at(v, p, "must be more than 0 and at most 1h");
          c.timeout_ms = *d;
          return std::nullopt;
        }
        return unknown_key(k, p,
                           {"relay", "starttls", "username", "password_env", "from", "ca_file",
                            "verify_peer", "timeout"});
      });
  if (e) return e;
  if (c.relay.empty()) return error_at(node, path, "relay is required (smtp://host:port)");
  if (c.starttls && c.relay.starts_with("smtps://"))
    return error_at(*starttls_at, path + ".starttls",
                    "starttls applies to smtp:// relays; smtps:// is TLS from the first byte");
  if (!c.password_env.empty() && c.username.empty())
    return error_at(node, path, "password_env needs a username");
  return std::nullopt;
}

error parse_alerts(const YAML::Node& node, alerts_config& out) {
  YAML::Node email_node;
  auto err = for_each_entry(
      node, "alerts",
      [&](const std::string& key, const YAML::Node& k, const YAML::Node& v) -> error {
        const std::string p = "alerts." + key;
        if (key == "thresholds") {
          if (!v.IsSequence()) return error_at(v, p, "expected a list");
          out.thresholds.clear();
          std::set<int> percents;
          for (std::size_t i = 0; i < v.size(); ++i) {
            const std::string q = fmt::format("{}[{}]", p, i);
            alert_threshold t;
            bool have_percent = false;
            auto e = for_each_entry(
                v[i], q,
                [&](const std::string& tk, const YAML::Node& tkn, const YAML::Node& tv) -> error {
                  const std::string r = q + "." + tk;
                  if (tk == "percent") {
                    auto n = read_int(tv, r);
                    if (!n) return n.error();
                    if (*n <= 0 || *n > 10'000)
                      return error_at(tv, r, "must be between 1 and 10000");
                    t.percent = static_cast<int>(*n);
                    have_percent = true;
                    return std::nullopt;
                  }
                  if (tk == "level") {
                    auto s = read_string(tv, r);
                    if (!s) return s.error();
                    if (*s != "info" && *s != "warning" && *s != "critical" && *s != "exceeded")
                      return error_at(tv, r, "expected info, warning, critical or exceeded");
                    t.level = *s;
                    return std::nullopt;
                  }
                  if (tk == "message") {
                    auto s = read_string(tv, r);
                    if (!s) return s.error();
                    t.message = *s;
                    return std::nullopt;
                  }
                  return unknown_key(tkn, r, {"percent", "level", "message"});
                });
            if (e) return e;
            if (!v[i].IsMap() || !have_percent) return error_at(v[i], q, "percent is required");
            if (!percents.insert(t.percent).second)
              return error_at(v[i], q, fmt::format("duplicate threshold {}%", t.percent));
            if (t.level.empty()) {
              t.level = t.percent >= 100  ? "exceeded"
                        : t.percent >= 95 ? "critical"
                        : t.percent >= 80 ? "warning"
                                          : "info";
            }
            if (t.message.empty()) t.message = fmt::format("{}% of budget used", t.percent);
            out.thresholds.push_back(std::move(t));
          }
          std::sort(out.thresholds.begin(), out.thresholds.end(),
                    [](const auto& a, const auto& b) { return a.percent < b.percent; });
          return std::nullopt;
        }
        if (key == "notifications") {
          if (!v.IsSequence()) return error_at(v, p, "expected a list");
          out.notifications.clear();
          for (std::size_t i = 0; i < v.size(); ++i) {
            notification_config n;
            if (auto e = parse_notification(v[i], fmt::format("{}[{}]", p, i), n)) return e;
            out.notifications.push_back(std::move(n));
          }
          return std::nullopt;
        }
        if (key == "email") {
          email_node = v;
          smtp_config c;
          if (auto e = parse_smtp(v, p, c)) return e;
          out.email = std::move(c);
          return std::nullopt;
        }
        return unknown_key(k, p, {"thresholds", "notifications", "email"});
      });
  if (err) return err;
  if (out.email && !out.email->relay.empty() && out.email->from.empty()) {
    for (const auto& n : out.notifications) {
      if (n.type == "email" && n.enabled && n.is_rule())
        return error_at(email_node, "alerts.email",
                        "from is required when an email notification is enabled");
    }
  }
  return std::nullopt;
}

// ---- webhooks ----

error parse_webhooks(const YAML::Node& node, webhooks_config& w) {
  return for_each_entry(
      node, "webhooks",
      [&](const std::string& key, const YAML::Node& k, const YAML::Node& v) -> error {
        const std::string p = "webhooks." + key;
        if (key == "allow_private_targets") {
          auto b = read_bool(v, p);
          if (!b) return b.error();
          w.allow_private_targets = *b;
          return std::nullopt;
        }
        if (key == "timeout") {
          auto d = read_duration(v, p);
          if (!d) return d.error();
          if (*d <= 0 || *d > 3'600'000)
            return error_at(v, p, "must be more than 0 and at most 1h");
          w.timeout_ms = *d;
          return std::nullopt;
        }
        if (key == "retry_schedule") {
          if (!v.IsSequence()) return error_at(v, p, "expected a list of durations, e.g. [5s, 5m]");
          w.retry_schedule_ms.clear();
          for (std::size_t i = 0; i < v.size(); ++i) {
            const std::string q = fmt::format("{}[{}]", p, i);
            auto d = read_duration(v[i], q);
            if (!d) return d.error();
            if (*d <= 0 || *d > 7 * 86'400'000LL)
              return error_at(v[i], q, "must be more than 0 and at most 7d");
            w.retry_schedule_ms.push_back(*d);
          }
          return std::nullopt;
        }
        if (key == "jitter_percent" || key == "max_in_flight") {
          auto n = read_int(v, p);
          if (!n) return n.error();
          if (key == "jitter_percent") {
            if (*n < 0 || *n > 100) return error_at(v, p, "must be between 0 and 100");
            w.jitter_percent = static_cast<int>(*n);
          } else {
            if (*n < 1 || *n > 100'000) return error_at(v, p, "must be between 1 and 100000");
            w.max_in_flight = static_cast<int>(*n);
          }
          return std::nullopt;
        }
        return unknown_key(k, p,
                           {"allow_private_targets", "timeout", "retry_schedule", "jitter_percent",
                            "max_in_flight"});
      });
}

// ---- usage ----

config_result<int> read_retention_days(const YAML::Node& node, const std::string& path) {
  if (node.IsScalar() && node.Scalar() == "forever") return -1;
  auto n = read_int(node, path);
  if (!n) return n.error();
  if (*n < 1 || *n > 1'000'000) return error_at(node, path, "expected days >= 1 or 'forever'");
  return static_cast<int>(*n);
}

// "M H * * *" -> (minute, hour). Only the daily form is meaningful for a daily job.
std::optional<std::pair<int, int>> parse_daily_cron(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> f;
  for (std::string part; in >> part;) f.push_back(part);
  auto small = [](const std::string& t, int max) {
    if (t.empty() || t.size() > 2) return -1;
    int n = 0;
    for (char c : t) {
      if (c < '0' || c > '9') return -1;
      n = n * 10 + (c - '0');
    }
    return n <= max ? n : -1;
  };
  if (f.size() != 5 || f[2] != "*" || f[3] != "*" || f[4] != "*") return std::nullopt;
  const int minute = small(f[0], 59), hour = small(f[1], 23);
  if (minute < 0 || hour < 0) return std::nullopt;
  return std::pair{minute, hour};
}

error parse_usage(const YAML::Node& node, tally_config& cfg) {
  return for_each_entry(
      node, "usage",
      [&](const std::string& key, const YAML::Node& k, const YAML::Node& v) -> error {
        const std::string p = "usage." + key;
        if (key == "late_grace" || key == "future_skew") {
          if (!v.IsScalar()) return error_at(v, p, "expected a duration like 7d, 12h or 300");
          auto d = parse_duration_ms(v.Scalar());
          if (!d) return error_at(v, p, d.error().message);
          (key == "late_grace" ? cfg.late_grace_ms : cfg.future_skew_ms) = *d;
          return std::nullopt;
        }
        if (key == "retention") {
          return for_each_entry(
              v, p,
              [&](const std::string& rk, const YAML::Node& rkn, const YAML::Node& rv) -> error {
                int* slot = rk == "detailed"  ? &cfg.retention.detailed_days
                            : rk == "daily"   ? &cfg.retention.daily_days
                            : rk == "monthly" ? &cfg.retention.monthly_days
                                              : nullptr;
                if (slot == nullptr)
                  return unknown_key(rkn, p + "." + rk, {"detailed", "daily", "monthly"});
                auto days = read_retention_days(rv, p + "." + rk);
                if (!days) return days.error();
                *slot = *days;
                return std::nullopt;
              });
        }
        if (key == "aggregation") {
          return for_each_entry(
              v, p,
              [&](const std::string& ak, const YAML::Node& akn, const YAML::Node& av) -> error {
                const std::string q = p + "." + ak;
                if (ak == "hour" || ak == "minute") {
                  auto n = read_int(av, q);
                  if (!n) return n.error();
                  if (*n < 0 || *n > (ak == "hour" ? 23 : 59))
                    return error_at(av, q, "out of range");
                  (ak == "hour" ? cfg.retention.aggregation_hour
                                : cfg.retention.aggregation_minute) = static_cast<int>(*n);
                  return std::nullopt;
                }
                if (ak == "schedule") {
                  auto s = read_string(av, q);
                  if (!s) return s.error();
                  auto cron = parse_daily_cron(*s);
                  if (!cron) return error_at(av, q, "expected a daily cron schedule \"M H * * *\"");
                  cfg.retention.aggregation_minute = cron->first;
                  cfg.retention.aggregation_hour = cron->second;
                  return std::nullopt;
                }
                return unknown_key(akn, q, {"schedule", "hour", "minute"});
              });
        }
        return unknown_key(k, p, {"retention", "aggregation", "late_grace", "future_skew"});
      });
}

config_result<tally_config> load_node(const YAML::Node& root) {
  tally_config cfg;
  if (root.IsNull()) return cfg;
  if (!root.IsMap()) return error_at(root, "config", "the document must be a mapping");
  // Gather the sections first: limits.per_project.<id> needs the teams already known.
  YAML::Node pricing, limits, alerts, webhooks, usage;
  std::vector<std::pair<std::string, YAML::Node>> team_sections;
  auto e = for_each_entry(
      root, "", [&](const std::string& key, const YAML::Node&, const YAML::Node& v) -> error {
        if (key == "pricing") pricing = v;
        if (key == "limits") limits = v;
        if (key == "alerts") alerts = v;
        if (key == "webhooks") webhooks = v;
        if (key == "usage") usage = v;
        if (key == "teams" || key == "projects" || key == "workspaces")
          team_sections.emplace_back(key, v);
        return std::nullopt;  // other top-level keys belong to other tools or later versions
      });
  if (e) return *e;
  std::set<std::string> team_limits;
  if (pricing) {
    if (auto err = parse_pricing(pricing, cfg.pricing)) return *err;
  }
  for (const auto& [section, node] : team_sections) {
    if (auto err = parse_teams(node, section, cfg, team_limits)) return *err;
  }
  if (limits) {
    if (auto err = parse_limits(limits, cfg, team_limits)) return *err;
  }
  if (alerts) {
    if (auto err = parse_alerts(alerts, cfg.alerts)) return *err;
  }
  if (webhooks) {
    if (auto err = parse_webhooks(webhooks, cfg.webhooks)) return *err;
  }
  if (usage) {
    if (auto err = parse_usage(usage, cfg)) return *err;
  }
  return cfg;
}

}  // namespace

void throw_exception_from_error(const config_error& e, const boost::source_location&) {
  throw std::runtime_error(e.message);
}

std::vector<alert_threshold> default_alert_thresholds() {
  return {
      {50, "info", "50% of budget used"},
      {80, "warning", "80% of budget used"},
      {95, "critical", "95% of budget used - approaching limit"},
      {100, "exceeded", "budget exceeded"},
  };
}

config_result<tally_config> load_config_text(std::string_view yaml) {
  try {
    return load_node(YAML::Load(std::string(yaml)));
  } catch (const YAML::Exception& ex) {
    const int line = ex.mark.line < 0 ? 0 : ex.mark.line + 1;
    return config_error{fmt::format("line {}: invalid YAML: {}", line, ex.msg), line};
  }
}

config_result<tally_config> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return config_error{
        fmt::format("cannot read config file '{}': {}", path, std::strerror(errno))};
  }
  std::ostringstream text;
  text << in.rdbuf();
  auto cfg = load_config_text(text.str());
  if (!cfg) return config_error{path + ": " + cfg.error().message, cfg.error().line};
  if (auto env = apply_env_overrides(*cfg); !env) return env.error();
  return cfg;
}

config_result<void> apply_env_overrides(tally_config& cfg) {
  const char* name = "TALLY_WEBHOOKS_ALLOW_PRIVATE";
  const char* raw = std::getenv(name);
  const std::string value = raw == nullptr ? "" : raw;
  if (value.empty()) return {};
  if (value == "1" || value == "true") {
    cfg.webhooks.allow_private_targets = true;
  } else if (value == "0" || value == "false") {
    cfg.webhooks.allow_private_targets = false;
  } else {
    return config_error{fmt::format("{}='{}': expected 1, true, 0 or false", name, value)};
  }
  return {};
}

bool channel_enabled(const std::vector<notification_config>& notifications, std::string_view type) {
  return std::none_of(notifications.begin(), notifications.end(),
                      [&](const auto& n) { return n.type == type && !n.enabled && !n.is_rule(); });
}

std::vector<alert_channel> channel_switches(const std::vector<notification_config>& notifications) {
  std::vector<alert_channel> out = {{"in_app", channel_enabled(notifications, "in_app")}};
  for (const auto& n : notifications) {
    if (n.type != "in_app" && !n.is_rule()) out.push_back({n.type, n.enabled});
  }
  return out;
}

int alert_level_rank(std::string_view level) {
  if (level == "info") return 1;
  if (level == "warning") return 2;
  if (level == "critical") return 3;
  if (level == "exceeded") return 4;
  return 0;
}

bool rule_matches(const notification_config& rule, std::string_view level, std::string_view team) {
  if (!rule.enabled || !rule.is_rule()) return false;
  if (!rule.team_id.empty() && rule.team_id != team) return false;
  return rule.min_level.empty() || alert_level_rank(level) >= alert_level_rank(rule.min_level);
}

config_result<std::int64_t> parse_duration_ms(std::string_view text) {
  auto fail = [&] {
    return config_error{fmt::format(
        "'{}' is not a duration (e.g. 7d, 12h, 30m, 45s, 250ms, 1h30m, or seconds)", text)};
  };
  std::string_view s = text;
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty()) return fail();
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    std::int64_t n = 0;
    std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, s[i] - '0', &n))
        return fail();
      ++i;
    }
    if (i == start) return fail();
    std::int64_t unit_ms = 0;
    if (i == s.size() && start == 0) {
      unit_ms = 1000;  // a bare number is seconds
    } else if (s.substr(i, 2) == "ms") {
      unit_ms = 1;
      i += 2;
    } else if (i < s.size()) {
      switch (s[i]) {
        case 's':
          unit_ms = 1000;
          break;
        case 'm':
          unit_ms = 60'000;
          break;
        case 'h':
          unit_ms = 3'600'000;
          break;
        case 'd':
          unit_ms = 86'400'000;
          break;
        case 'w':
          unit_ms = 7 * 86'400'000LL;
          break;
        default:
          return fail();
      }
      ++i;
    } else {
      return fail();  // "1h30": a trailing number without a unit is ambiguous
    }
    std::int64_t part = 0;
    if (__builtin_mul_overflow(n, unit_ms, &part) || __builtin_add_overflow(total, part, &total))
      return fail();
  }
  return total;
}

config_result<std::int64_t> parse_time_ms(std::string_view s) {
  auto fail = [&] {
    return config_error{fmt::format("'{}' is not a date (YYYY-MM-DD) or an RFC 3339 time", s)};
  };
  std::size_t i = 0;
  auto digits = [&](std::size_t n, int& out) {
    if (i + n > s.size()) return false;
    out = 0;
    for (std::size_t k = 0; k < n; ++k) {
      char c = s[i + k];
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
    }
    i += n;
    return true;
  };
  auto expect = [&](char c) {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  };
  int y = 0, mo = 0, d = 0;
  if (!digits(4, y) || !expect('-') || !digits(2, mo) || !expect('-') || !digits(2, d))
    return fail();
  const date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(mo)},
                                 date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return fail();
  std::int64_t ms =
      static_cast<std::int64_t>(date::sys_days{ymd}.time_since_epoch().count()) * 86'400'000;
  if (i == s.size()) return ms;
  if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') return fail();
  ++i;
  int hh = 0, mm = 0, ss = 0;
  if (!digits(2, hh) || !expect(':') || !digits(2, mm) || !expect(':') || !digits(2, ss))
    return fail();
  if (hh > 23 || mm > 59 || ss > 60) return fail();
  int frac_ms = 0;
  if (expect('.')) {
    std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (i - start < 3) frac_ms = frac_ms * 10 + (s[i] - '0');
      ++i;
    }
    if (i == start) return fail();
    for (std::size_t k = i - start; k < 3; ++k) frac_ms *= 10;
  }
  int offset_min = 0;
  if (expect('Z') || expect('z')) {
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    const int sign = s[i] == '-' ? -1 : 1;
    ++i;
    int oh = 0, om = 0;
    if (!digits(2, oh) || !expect(':') || !digits(2, om) || oh > 23 || om > 59) return fail();
    offset_min = sign * (oh * 60 + om);
  } else {
    return fail();  // RFC 3339 requires the offset; guessing a zone would shift prices by hours
  }
  if (i != s.size()) return fail();
  ms += ((hh * 60LL + mm) * 60 + ss) * 1000 + frac_ms - offset_min * 60'000LL;
  return ms;
}

}  // namespace tally
