// Reading requests, in one place for every route: the body as a JSON object of known
// fields, each field's type checked with a message that names it, and query parameters.
#pragma once

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "engines/recovery.h"
#include "http/message.h"

namespace dbaas::api {

// A request body as a JSON object with only the `allowed` keys. An empty body is {}.
Result<nlohmann::json> ParseBody(const http::Request& req,
                                 std::initializer_list<std::string_view> allowed);

// An optional string field; null counts as absent.
Result<std::string> StringField(const nlohmann::json& body, const char* key, bool required = false);

// At most one of targetTime (RFC 3339), targetLsn, targetName, target ("latest").
Result<engines::RecoveryTarget> ParseRecoveryTarget(const nlohmann::json& body);

// A boolean field; null or absent is `absent`.
Result<bool> BoolField(const nlohmann::json& body, const char* key, bool absent);
// A boolean field; null or absent is none (a PATCH leaves it as it is).
Result<std::optional<bool>> OptionalBoolField(const nlohmann::json& body, const char* key);

// An integer, or a string of one: the original design's documented requests send
// "retentionDays": "7", and a client written from them must work unchanged.
Result<std::optional<int>> IntField(const nlohmann::json& body, const char* key);
// An array of at most 16 strings, each one once; absent or null: empty.
Result<std::vector<std::string>> StringListField(const nlohmann::json& body, const char* key);

// config: an object of settings whose values are strings, numbers or booleans.
Result<std::map<std::string, std::string>> ConfigField(const nlohmann::json& body);

// A query parameter true/false (1/0; present without a value: true); absent: false.
Result<bool> BoolParam(const http::Request& req, const char* key);
using http::IntParam;  // a whole number in the query (http/message.h)

}  // namespace dbaas::api
