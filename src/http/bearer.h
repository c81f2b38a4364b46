// Bearer-token authentication (RFC 6750) for the servers on http/server.h: the REST API's
// and the in-pod agent's.
#pragma once

#include <string>
#include <string_view>

namespace dbaas::http {

// Whether an Authorization header value is "Bearer <token>", compared in constant time
// (an attacker timing the answers learns nothing of the token). An empty token matches
// nothing.
bool BearerTokenMatches(std::string_view authorization, std::string_view token);

}  // namespace dbaas::http
