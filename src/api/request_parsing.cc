#include "api/request_parsing.h"

#include <algorithm>

#include <charconv>
#include <cstdint>

#include <fmt/format.h>

#include "catalog/catalog.h"

namespace dbaas::api {

using http::Request;
using nlohmann::json;

Result<json> ParseBody(const Request& req, std::initializer_list<std::string_view> allowed) {
  if (req.body.empty()) return json::object();
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded()) return Status::InvalidArgument("the request body is not valid JSON");
  if (!body.is_object()) return Status::InvalidArgument("the request body must be a JSON object");
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      std::string names;
      for (auto a : allowed) names += (names.empty() ? "" : ", ") + std::string(a);
      return Status::InvalidArgument(fmt::format("unknown field '{}'", it.key()),
                                     fmt::format("this request takes: {}", names));
    }
  }
  return body;
}

Result<std::string> StringField(const json& body, const char* key, bool required) {
  if (!body.contains(key) || body[key].is_null()) {
    if (required) return Status::InvalidArgument(fmt::format("{} is required", key));
    return std::string();
  }
  if (!body[key].is_string())
    return Status::InvalidArgument(fmt::format("{} must be a string", key));
  return body[key].get<std::string>();
}

Result<engines::RecoveryTarget> ParseRecoveryTarget(const json& body) {
  using Kind = engines::RecoveryTarget::Kind;
  engines::RecoveryTarget t;
  int given = 0;
  for (const char* key : {"targetTime", "targetLsn", "targetName", "targetGtid", "target"}) {
    ASSIGN_OR_RETURN(std::string value, StringField(body, key));
    if (value.empty()) continue;
    ++given;
    if (std::string_view(key) == "targetTime") {
      t.kind = Kind::kTime;
      ASSIGN_OR_RETURN(t.time_unix_us, catalog::ParseRfc3339(value));
    } else if (std::string_view(key) == "targetLsn") {
      t.kind = Kind::kLsn;
      t.lsn = value;
    } else if (std::string_view(key) == "targetName") {
      t.kind = Kind::kName;
      t.name = value;
    } else if (std::string_view(key) == "targetGtid") {
      t.kind = Kind::kGtid;
      t.gtid = value;
    } else if (value == "latest") {
      t.kind = Kind::kLatest;
    } else {
      return Status::InvalidArgument(fmt::format("target '{}' is not known", value),
                                     "target is \"latest\"; or give targetTime, targetLsn, "
                                     "targetName or targetGtid");
    }
  }
  if (given > 1) {
    return Status::InvalidArgument(
        "give one of targetTime, targetLsn, targetName, targetGtid and target");
  }
  return t;
}

Result<bool> BoolField(const json& body, const char* key, bool absent) {
  if (!body.contains(key) || body[key].is_null()) return absent;
  if (!body[key].is_boolean())
    return Status::InvalidArgument(fmt::format("{} must be true or false", key));
  return body[key].get<bool>();
}

Result<std::optional<bool>> OptionalBoolField(const json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return std::optional<bool>();
  ASSIGN_OR_RETURN(bool value, BoolField(body, key, false));
  return std::optional<bool>(value);
}

Result<std::vector<std::string>> StringListField(const json& body, const char* key) {
  std::vector<std::string> out;
  if (!body.contains(key) || body[key].is_null()) return out;
  const json& v = body[key];
  if (!v.is_array() || v.size() > 16) {
    return Status::InvalidArgument(fmt::format("{} must be an array of at most 16 names", key));
  }
  for (const json& item : v) {
    if (!item.is_string())
      return Status::InvalidArgument(fmt::format("{} must hold names (strings)", key));
    if (std::find(out.begin(), out.end(), item.get<std::string>()) != out.end()) {
      return Status::InvalidArgument(
          fmt::format("{} names '{}' twice", key, item.get<std::string>().substr(0, 64)));
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

Result<std::optional<int>> IntField(const json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return std::optional<int>();
  const json& v = body[key];
  int64_t n = 0;
  if (v.is_number_integer()) {
    n = v.get<int64_t>();
  } else if (v.is_string()) {
    const std::string& text = v.get_ref<const std::string&>();
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
      return Status::InvalidArgument(
          fmt::format("{} must be an integer (a number, or a string of digits), not \"{}\"", key,
                      text.substr(0, 40)));
    }
  } else {
    return Status::InvalidArgument(fmt::format("{} must be an integer", key));
  }
  if (n < INT32_MIN || n > INT32_MAX) {
    return Status::InvalidArgument(fmt::format("{} is out of range", key));
  }
  return std::optional<int>(static_cast<int>(n));
}

Result<std::map<std::string, std::string>> ConfigField(const json& body) {
  std::map<std::string, std::string> out;
  if (!body.contains("config") || body["config"].is_null()) return out;
  const json& config = body["config"];
  if (!config.is_object()) return Status::InvalidArgument("config must be an object");
  for (auto it = config.begin(); it != config.end(); ++it) {
    const json& v = it.value();
    if (v.is_string()) {
      out[it.key()] = v.get<std::string>();
    } else if (v.is_boolean()) {
      out[it.key()] = v.get<bool>() ? "on" : "off";
    } else if (v.is_number()) {
      out[it.key()] = v.dump();
    } else {
      return Status::InvalidArgument(
          fmt::format("config '{}' must be a string, a number or a boolean", it.key()));
    }
  }
  return out;
}

Result<bool> BoolParam(const Request& req, const char* key) {
  if (!req.has_param(key)) return false;
  std::string v = req.get_param_value(key);
  if (v == "true" || v == "1" || v.empty()) return true;
  if (v == "false" || v == "0") return false;
  return Status::InvalidArgument(fmt::format("query parameter {} must be true or false", key));
}

}  // namespace dbaas::api
