#include "http/router.h"

namespace dbaas::http {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path[0] != '/') return out;
  path.remove_prefix(1);
  while (true) {
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

void Router::Add(std::string method, std::string_view pattern, Handler handler) {
  Route r{std::move(method), {}, std::move(handler)};
  for (std::string_view s : SplitPath(pattern)) r.segments.emplace_back(s);
  routes_.push_back(std::move(r));
}

const Handler* Router::Find(Request& req) const {
  std::string_view method = req.method == "HEAD" ? std::string_view("GET") : req.method;
  // The path is decoded first: "a%2Fb" is two segments, as it was under cpp-httplib.
  std::vector<std::string_view> segments = SplitPath(req.path);
  for (const Route& r : routes_) {
    if (r.method != method || r.segments.size() != segments.size()) continue;
    bool match = true;
    for (size_t i = 0; i < segments.size() && match; ++i) {
      const std::string& want = r.segments[i];
      match = want.starts_with(':') ? !segments[i].empty() : want == segments[i];
    }
    if (!match) continue;
    req.matches.assign(1, req.path);
    for (size_t i = 0; i < segments.size(); ++i) {
      if (r.segments[i].starts_with(':')) req.matches.emplace_back(segments[i]);
    }
    return &r.handler;
  }
  return nullptr;
}

}  // namespace dbaas::http
