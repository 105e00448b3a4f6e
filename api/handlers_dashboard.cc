// The built web dashboard (dashboard/, built by Vite into <build dir>/dashboard): index.html,
// the top-level files Vite copies from public/ (favicon.svg, ...) and the hashed bundles under
// assets/. Files are read from the directory at request time (a rebuilt dashboard is served at
// once; the files are small), by exact name: one path segment per level, names of
// [A-Za-z0-9._-] not starting with '.', and only the extensions a Vite build emits. So no '..',
// no hidden file and no directory listing can be reached.
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/handlers.h"

namespace tally::api {
namespace {

namespace fs = std::filesystem;

constexpr std::uintmax_t max_file_bytes = 32u << 20;

// The page's own origin only; inline styles for the chart library's computed positions.
constexpr std::string_view content_security_policy =
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'";

struct file_type {
  std::string_view extension;
  std::string_view content_type;
};
constexpr std::array<file_type, 9> file_types = {{
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".map", "application/json"},
    {".json", "application/json"},
}};

const file_type* type_of(std::string_view name) {
  for (auto& t : file_types) {
    if (name.size() > t.extension.size() && name.ends_with(t.extension)) return &t;
  }
  return nullptr;
}

bool safe_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

http_response not_found(std::string_view file) {
  return problem(http::status::not_found, "not_found", "Not found",
                 "the dashboard has no file " + std::string(file));
}

}  // namespace

http_response dashboard_file(const std::string& dir, std::string_view file) {
  const bool in_assets = file.starts_with("assets/");
  const std::string_view name = in_assets ? file.substr(7) : file;
  const file_type* type = safe_name(name) ? type_of(name) : nullptr;
  if (!type) return not_found(file);
  std::error_code ec;
  const fs::path path = fs::path(dir) / std::string(file);
  const bool present = !dir.empty() && fs::is_regular_file(path, ec);
  if (!present && file == "index.html") {
    return problem(http::status::not_found, "dashboard_not_built", "The dashboard is not built",
                   "no " + (dir.empty() ? std::string("dashboard directory") : path.string()) +
                       ": build it with `npm --prefix dashboard ci && npm --prefix dashboard "
                       "run build` (deploy/up does), or start tally serve with "
                       "--dashboard-dir <dir holding index.html>");
  }
  if (!present) return not_found(file);
  const auto size = fs::file_size(path, ec);
  if (ec || size > max_file_bytes) return not_found(file);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream body;
  body << in.rdbuf();
  if (!in && !in.eof()) return not_found(file);
  http_response res{http::status::ok, 11};
  res.set(http::field::content_type, type->content_type);
  // Vite names the bundles under assets/ by their content hash: they never change.
  res.set(http::field::cache_control,
          in_assets ? "public, max-age=31536000, immutable" : "no-cache");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Content-Security-Policy", content_security_policy);
  res.set("Referrer-Policy", "no-referrer");
  res.set("X-Frame-Options", "DENY");
  res.body() = std::move(body).str();
  res.prepare_payload();
  return res;
}

std::string default_dashboard_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "dashboard";
  return (exe.parent_path() / "dashboard").string();
}

}  // namespace tally::api
