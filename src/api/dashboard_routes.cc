#include "api/dashboard_routes.h"

#include <fmt/format.h>

#include "api/json_views.h"
#include "api/responses.h"
#include "base/files.h"

namespace dbaas::api {
namespace {

// Every asset comes from the daemon: no script, style or frame from anywhere else.
constexpr char kCsp[] = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'";

// A file name the build makes (index-Cn7Y7GKh.css): letters, digits, '.', '_', '-', and
// not hidden. Nothing else reaches the filesystem.
bool PlainFileName(const std::string& name) {
  if (name.empty() || name[0] == '.' || name.size() > 128) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string ContentTypeOf(const std::string& name) {
  auto ends = [&](std::string_view ext) { return name.ends_with(ext); };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".ico")) return "image/x-icon";
  if (ends(".woff2")) return "font/woff2";
  if (ends(".json")) return "application/json";
  return "application/octet-stream";
}

void SendFile(const std::string& ui_dir, const std::string& relative, bool immutable,
              http::Response& res) {
  auto body = ReadFileToString(JoinPath(ui_dir, relative), 16 << 20);
  if (!body.ok()) {
    // Not there, or not a plain file (a link is not followed): not served.
    bool missing = body.status().code() == StatusCode::kNotFound ||
                   body.status().code() == StatusCode::kInvalidArgument;
    Send(res, missing ? 404 : 500,
         ErrorJson(
             missing ? "not_found" : "internal",
             missing ? fmt::format("no dashboard file '{}'", relative) : body.status().ToString(),
             missing && relative == "index.html"
                 ? fmt::format("the dashboard is not built in {}: run scripts/build.sh "
                               "(npm run build in ui/), or give --ui-dir",
                               ui_dir)
                 : ""));
    return;
  }
  res.set_content(std::move(body).value(), ContentTypeOf(relative));
  res.set_header("Content-Security-Policy", kCsp);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  // Asset names carry their content's hash; the page itself is asked for every time.
  res.set_header("Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
}

}  // namespace

bool IsDashboardPath(const std::string& method, const std::string& path) {
  return (method == "GET" || method == "HEAD") && (path == "/ui" || path.starts_with("/ui/"));
}

void AddDashboardRoutes(http::HttpServer& s, std::string ui_dir) {
  s.Get("/ui", [](const http::Request&, http::Response& res) {
    res.status = 308;
    res.set_header("Location", "/ui/");
  });
  s.Get("/ui/", [ui_dir](const http::Request&, http::Response& res) {
    SendFile(ui_dir, "index.html", false, res);
  });
  auto file = [ui_dir](const std::string& folder, const std::string& name, http::Response& res) {
    if (!PlainFileName(name)) {
      Send(res, 404,
           ErrorJson("not_found", fmt::format("no dashboard file '{}'", name),
                     "dashboard files have plain names (letters, digits, '.', '_', '-')"));
      return;
    }
    SendFile(ui_dir, folder.empty() ? name : JoinPath(folder, name), !folder.empty(), res);
  };
  s.Get("/ui/:file", [file](const http::Request& req, http::Response& res) {
    file("", req.matches.at(1), res);
  });
  s.Get("/ui/assets/:file", [file](const http::Request& req, http::Response& res) {
    file("assets", req.matches.at(1), res);
  });
}

}  // namespace dbaas::api
