// The HTTP request and response the API's handlers see: plain data, no I/O. The member
// names follow cpp-httplib's (the API was first written on it), so the handlers read the same.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace dbaas::http {

struct Request {
  std::string method;                                        // "GET", ...
  std::string target;                                        // as sent: path and query
  std::string path;                                          // percent-decoded, without the query
  std::vector<std::pair<std::string, std::string>> headers;  // as sent, in order
  std::multimap<std::string, std::string> params;            // the query, decoded
  // matches[0] is the path; matches[i] the i-th ":name" segment of the route's pattern.
  std::vector<std::string> matches;
  std::string body;
  std::string remote_addr;
  // Set by the pre-routing handler when the request proved who sent it (the API's token):
  // its connection is then not closed to make room for other clients.
  bool authenticated = false;

  bool has_header(std::string_view name) const;
  // The first field named `name` (any case); empty when there is none.
  std::string get_header_value(std::string_view name) const;
  bool has_param(const std::string& key) const { return params.count(key) > 0; }
  std::string get_param_value(const std::string& key) const;
};

// A whole number in the query ("?since=42"), `absent` when it is not there;
// kInvalidArgument naming the parameter otherwise.
Result<int64_t> IntParam(const Request& req, const char* key, int64_t absent);

struct Response {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // besides the content type

  void set_content(std::string content, std::string content_type);
  void set_header(std::string name, std::string value);
};

using Handler = std::function<void(const Request&, Response&)>;

// %XX escapes decoded (invalid ones kept as they are); '+' as a space when `plus_is_space`.
std::string UrlDecode(std::string_view text, bool plus_is_space);

// Fills path and params from target ("/a%20b?x=1&y" -> path "/a b", x=1, y="").
void ParseTarget(Request& req);

// The whole answer as it goes on the wire: status line, Content-Type and Content-Length,
// the response's headers, Connection when it is not the version's default, the body (none
// for HEAD, whose Content-Length still says how long it would be).
std::string Serialize(const Response& res, int http_version, bool keep_alive, bool head);

// "Not Found" for 404, ...; "Unknown" for a status with no name here.
std::string_view ReasonPhrase(int status);

}  // namespace dbaas::http
