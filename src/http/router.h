// Routes: a method and a path pattern whose ":name" segments match any one segment.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"

namespace dbaas::http {

class Router {
 public:
  // "/instances/:name/backups/:backup". Routes are tried in the order they were added.
  void Add(std::string method, std::string_view pattern, Handler handler);

  // The handler for the request's method and path (HEAD takes GET's), with req.matches
  // filled; nullptr when none matches (a path known under another method too: as
  // cpp-httplib did, the API answers 404 then, not 405).
  const Handler* Find(Request& req) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;  // ":name" matches any non-empty segment
    Handler handler;
  };
  std::vector<Route> routes_;
};

// "/a/b/" -> {"a", "b", ""}: the segments after the leading '/'; empty for a path
// that does not start with '/'.
std::vector<std::string_view> SplitPath(std::string_view path);

}  // namespace dbaas::http
