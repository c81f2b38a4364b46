// What a remote repository needs of where it keeps its objects: whole-object puts and gets,
// listing by prefix, deletion. S3Client is one; tests and other backends may be others.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace dbaas::objstore {

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  std::string etag;
  int64_t modified_unix = 0;  // when it was written (seconds since the epoch; 0: unknown)
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  // Readers see the whole object or none of it (or the one it replaced).
  virtual Status Put(std::string_view key, std::span<const uint8_t> body) = 0;
  // kNotFound when there is no such object.
  virtual Result<std::vector<uint8_t>> Get(std::string_view key) = 0;
  // Every object whose key starts with `prefix`, in key order.
  virtual Result<std::vector<ObjectInfo>> List(std::string_view prefix) = 0;
  // Deleting what does not exist succeeds.
  virtual Status Delete(std::string_view key) = 0;
  // For messages: "s3://bucket (http://127.0.0.1:9000)".
  virtual std::string Describe() const = 0;
};

}  // namespace dbaas::objstore
