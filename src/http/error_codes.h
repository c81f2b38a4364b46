// Error codes on the wire: the word and the HTTP status for each StatusCode, one mapping
// for every server on src/http (the REST API, the in-pod agent); the layers below speak
// StatusCode.
#pragma once

#include <string_view>

#include "base/status.h"

namespace dbaas::http {

// "invalid_argument", "not_found", ..., "interrupted" (kAborted: a job cut off by a stop).
std::string_view WireCode(StatusCode code);
// 400 invalid_argument; 404 not_found; 409 already_exists, failed_precondition, busy; 500
// for what the server could not do (corruption, io_error, internal, interrupted).
int HttpStatusOf(StatusCode code);

}  // namespace dbaas::http
