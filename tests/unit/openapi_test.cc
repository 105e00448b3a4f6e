// The OpenAPI document (schemas/openapi.yaml, built in) against the routes the API serves:
// every route documented with its method and path parameters, every documented operation a
// route, each with a 2xx answer, its security and its rate-limit class; served at
// GET /api/v1/openapi.yaml without a credential; valid OpenAPI 3.1 when the Python validator
// is installed.
#include "api/openapi_doc.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "api/app.h"

namespace tally::api {
namespace {

namespace fs = std::filesystem;

const std::set<std::string> http_methods = {"get",     "put",  "post",  "delete",
                                            "options", "head", "patch", "trace"};
const std::set<std::string> open_paths = {
    "/healthz", "/readyz", "/metrics", "/api/v1/openapi.yaml", "/", "/{file}", "/assets/{file}"};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// A route as the API serves it.
struct served_route {
  std::string path;
  std::string method;  // lower case, as OpenAPI names operations
  bool open = false;
  std::string rate_class;
  std::vector<std::string> params;
};

// Every route of an api_app (the API routes and the open ones), built with no ledger: the
// constructor only stores its dependencies.
std::vector<served_route> served_routes() {
  metrics_registry metrics;
  api_app app(api_deps{}, auth_deps{}, metrics);
  std::vector<served_route> out;
  for (const route& r : app.routes().routes()) {
    out.push_back({r.pattern, lower(http::to_string(r.method)), r.meta.open, r.meta.rate_class,
                   r.param_names});
  }
  return out;
}

const YAML::Node& doc() {
  static const YAML::Node d = YAML::Load(std::string(openapi_yaml()));
  return d;
}

std::string where(const std::string& path, const std::string& method) {
  return lower(method) + " " + path;
}

// The node a local reference ("#/components/parameters/TeamId") names; undefined if none.
YAML::Node resolve(const std::string& ref) {
  if (ref.rfind("#/", 0) != 0) return YAML::Node(YAML::NodeType::Undefined);
  // yaml-cpp: assigning a Node overwrites the node it refers to; reset() only rebinds.
  YAML::Node n = doc();
  std::size_t at = 2;
  while (at <= ref.size()) {
    auto slash = ref.find('/', at);
    std::string part = ref.substr(at, slash == std::string::npos ? std::string::npos : slash - at);
    // JSON Pointer escapes.
    for (std::size_t i; (i = part.find("~1")) != std::string::npos;) part.replace(i, 2, "/");
    for (std::size_t i; (i = part.find("~0")) != std::string::npos;) part.replace(i, 2, "~");
    const YAML::Node& here = n;
    if (!here.IsMap() || !here[part]) return YAML::Node(YAML::NodeType::Undefined);
    n.reset(here[part]);
    if (slash == std::string::npos) break;
    at = slash + 1;
  }
  return n;
}

// The operation of a route in the document; undefined when it is not documented.
YAML::Node operation(const std::string& path, const std::string& method) {
  const YAML::Node paths = doc()["paths"];
  if (!paths[path] || !paths[path].IsMap() || !paths[path][method]) {
    return YAML::Node(YAML::NodeType::Undefined);
  }
  return paths[path][method];
}

// The names of the path parameters of an operation: the path item's and the operation's own,
// references resolved.
std::set<std::string> documented_path_params(const std::string& path, const std::string& method,
                                             std::vector<std::string>& problems) {
  std::set<std::string> names;
  for (const YAML::Node& list :
       {doc()["paths"][path]["parameters"], doc()["paths"][path][method]["parameters"]}) {
    if (!list) continue;
    for (const YAML::Node& p0 : list) {
      YAML::Node p = p0;
      if (p["$ref"]) p.reset(resolve(p["$ref"].as<std::string>()));
      if (!p || !p["in"] || !p["name"]) {
        problems.push_back(where(path, method) + ": a parameter without name or in");
        continue;
      }
      if (p["in"].as<std::string>() != "path") continue;
      const auto name = p["name"].as<std::string>();
      if (!p["required"] || !p["required"].as<bool>()) {
        problems.push_back(where(path, method) + ": path parameter " + name +
                           " is not required: true");
      }
      names.insert(name);
    }
  }
  return names;
}

TEST(openapi, document_is_openapi_3_1_with_both_credentials) {
  const YAML::Node& d = doc();
  ASSERT_TRUE(d.IsMap());
  EXPECT_EQ(d["openapi"].as<std::string>(), "3.1.0");
  ASSERT_TRUE(d["info"]["title"]);
  ASSERT_TRUE(d["info"]["version"]);
  ASSERT_TRUE(d["paths"].IsMap());

  const YAML::Node schemes = d["components"]["securitySchemes"];
  ASSERT_TRUE(schemes.IsMap());
  ASSERT_TRUE(schemes["ApiKey"]);
  EXPECT_EQ(schemes["ApiKey"]["type"].as<std::string>(), "apiKey");
  EXPECT_EQ(schemes["ApiKey"]["in"].as<std::string>(), "header");
  EXPECT_EQ(schemes["ApiKey"]["name"].as<std::string>(), "X-API-Key");
  ASSERT_TRUE(schemes["BearerJwt"]);
  EXPECT_EQ(schemes["BearerJwt"]["type"].as<std::string>(), "http");
  EXPECT_EQ(schemes["BearerJwt"]["scheme"].as<std::string>(), "bearer");
  EXPECT_EQ(schemes["BearerJwt"]["bearerFormat"].as<std::string>(), "JWT");

  for (const char* s : {"Problem", "Session", "Limits", "Budget", "Team", "Agent", "Task", "ApiKey",
                        "UsageRecorded"}) {
    EXPECT_TRUE(d["components"]["schemas"][s]) << "components/schemas/" << s;
  }
  for (const char* h :
       {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"}) {
    EXPECT_TRUE(d["components"]["headers"][h]) << "components/headers/" << h;
  }
}

TEST(openapi, the_app_serves_the_api_routes_and_the_open_ones) {
  auto served = served_routes();
  std::set<std::pair<std::string, std::string>> keys;
  for (auto& r : served) keys.insert({r.path, r.method});
  for (const route_def& r : api_routes()) {
    EXPECT_TRUE(keys.count({r.pattern, lower(http::to_string(r.method))}))
        << where(r.pattern, std::string(http::to_string(r.method)));
  }
  std::set<std::string> open;
  for (auto& r : served) {
    if (r.open) open.insert(r.path);
  }
  EXPECT_EQ(open, open_paths);
  EXPECT_EQ(served.size(), api_routes().size() + open_paths.size());
}

TEST(openapi, every_route_is_documented) {
  for (const route_def& r : api_routes()) {
    const auto method = lower(http::to_string(r.method));
    EXPECT_TRUE(operation(r.pattern, method).IsMap())
        << where(r.pattern, method) << " is a route but is not in schemas/openapi.yaml";
  }
  for (auto& r : served_routes()) {
    EXPECT_TRUE(operation(r.path, r.method).IsMap())
        << where(r.path, r.method) << " is a route but is not in schemas/openapi.yaml";
  }
}

TEST(openapi, every_documented_operation_is_a_route) {
  std::set<std::pair<std::string, std::string>> served;
  for (auto& r : served_routes()) served.insert({r.path, r.method});
  const std::set<std::string> path_item_fields = {"$ref", "summary", "description", "servers",
                                                  "parameters"};
  std::size_t operations = 0;
  for (const auto& p : doc()["paths"]) {
    const auto path = p.first.as<std::string>();
    ASSERT_TRUE(p.second.IsMap()) << path;
    for (const auto& f : p.second) {
      const auto key = f.first.as<std::string>();
      if (path_item_fields.count(key)) continue;
      if (!http_methods.count(key)) {
        ADD_FAILURE() << path << ": unknown path item field " << key;
        continue;
      }
      ++operations;
      EXPECT_TRUE(served.count({path, key}))
          << where(path, key) << " is in schemas/openapi.yaml but is not a route";
    }
  }
  EXPECT_EQ(operations, served.size());
}

TEST(openapi, operations_answer_2xx_and_declare_security_and_rate_class) {
  const YAML::Node schemes = doc()["components"]["securitySchemes"];
  std::set<std::string> operation_ids;
  for (auto& r : served_routes()) {
    const YAML::Node op = operation(r.path, r.method);
    if (!op.IsMap()) continue;  // reported by every_route_is_documented
    const auto at = where(r.path, r.method);

    ASSERT_TRUE(op["operationId"]) << at;
    EXPECT_TRUE(operation_ids.insert(op["operationId"].as<std::string>()).second)
        << at << ": operationId " << op["operationId"].as<std::string>() << " twice";

    const YAML::Node responses = op["responses"];
    ASSERT_TRUE(responses.IsMap()) << at;
    bool has_2xx = false;
    for (const auto& res : responses) {
      const auto code = res.first.as<std::string>();
      has_2xx = has_2xx || code == "2XX" || (code.size() == 3 && code[0] == '2');
    }
    EXPECT_TRUE(has_2xx) << at << ": no 2xx response";

    const YAML::Node security = op["security"];
    ASSERT_TRUE(security && security.IsSequence()) << at << ": no security of its own";
    if (r.open) {
      EXPECT_EQ(security.size(), 0u) << at << ": an open route has security: []";
      continue;
    }
    ASSERT_GT(security.size(), 0u) << at << ": a route that needs a credential";
    for (const auto& requirement : security) {
      ASSERT_TRUE(requirement.IsMap()) << at;
      EXPECT_GT(requirement.size(), 0u) << at << ": an empty requirement makes it optional";
      for (const auto& s : requirement) {
        EXPECT_TRUE(schemes[s.first.as<std::string>()])
            << at << ": unknown security scheme " << s.first.as<std::string>();
      }
    }
    ASSERT_TRUE(op["x-rate-limit-class"]) << at;
    EXPECT_EQ(op["x-rate-limit-class"].as<std::string>(), r.rate_class) << at;
    EXPECT_TRUE(responses["401"]) << at << ": 401 is possible";
    EXPECT_TRUE(responses["429"]) << at << ": 429 is possible";
  }
}

TEST(openapi, path_parameters_are_those_of_the_template) {
  std::vector<std::string> problems;
  for (auto& r : served_routes()) {
    if (!operation(r.path, r.method).IsMap()) continue;
    auto documented = documented_path_params(r.path, r.method, problems);
    std::set<std::string> expected(r.params.begin(), r.params.end());
    EXPECT_EQ(documented, expected) << where(r.path, r.method);
  }
  for (auto& p : problems) ADD_FAILURE() << p;
}

// Every "$ref" of the document, so that a typo in one fails here too.
void collect_refs(const YAML::Node& n, std::vector<std::string>& refs) {
  if (n.IsMap()) {
    for (const auto& kv : n) {
      if (kv.first.as<std::string>() == "$ref" && kv.second.IsScalar()) {
        refs.push_back(kv.second.as<std::string>());
      } else {
        collect_refs(kv.second, refs);
      }
    }
  } else if (n.IsSequence()) {
    for (const auto& item : n) collect_refs(item, refs);
  }
}

TEST(openapi, every_reference_resolves) {
  std::vector<std::string> refs;
  collect_refs(doc(), refs);
  EXPECT_GT(refs.size(), 0u);
  for (auto& ref : refs) EXPECT_TRUE(resolve(ref)) << ref;
}

TEST(openapi, served_without_a_credential) {
  metrics_registry metrics;
  api_app app(api_deps{}, auth_deps{}, metrics);
  http_request req{http::verb::get, "/api/v1/openapi.yaml", 11};
  std::optional<http_response> answer;
  app.dispatch(std::move(req), [&](http_response res) { answer = std::move(res); });
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->result(), http::status::ok);
  EXPECT_EQ((*answer)[http::field::content_type], "application/yaml");
  EXPECT_EQ(answer->body(), openapi_yaml());
  EXPECT_GT(answer->body().size(), 1000u);
}

// The command's exit status and its output (stdout and stderr).
int run(const std::string& command, std::string& output) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf;
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) output.append(buf.data(), n);
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(openapi, valid_per_openapi_spec_validator) {
  std::string probe;
  if (run("python3 -c 'import openapi_spec_validator, yaml'", probe) != 0) {
    GTEST_SKIP() << "python3 with openapi_spec_validator is not installed";
  }
  const fs::path file =
      fs::temp_directory_path() / ("tally_openapi_" + std::to_string(::getpid()) + ".yaml");
  {
    std::ofstream out(file, std::ios::binary);
    out << openapi_yaml();
  }
  const std::string script =
      "import sys, yaml\n"
      "try:\n"
      "    from openapi_spec_validator import validate\n"
      "except ImportError:\n"
      "    from openapi_spec_validator import validate_spec as validate\n"
      "with open(sys.argv[1]) as f:\n"
      "    validate(yaml.safe_load(f))\n";
  const fs::path script_file = fs::path(file).replace_extension(".py");
  {
    std::ofstream out(script_file, std::ios::binary);
    out << script;
  }
  std::string output;
  const int rc = run("python3 " + script_file.string() + " " + file.string(), output);
  fs::remove(file);
  fs::remove(script_file);
  EXPECT_EQ(rc, 0) << output;
}

}  // namespace
}  // namespace tally::api
