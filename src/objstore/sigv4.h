// AWS Signature Version 4 for S3 requests (the "Authorization" header form).
//
// The canonical request is built as S3 expects it: the path is URI-encoded once ('/' kept,
// no normalization of "." or ".." segments), query parameters are sorted by encoded name
// then value, header names are lowercased, their values trimmed with inner runs of spaces
// collapsed, and headers of one name joined by ','. AWS's general test suite encodes paths
// twice for other services; S3 does not, and S3 is all this signs.
//
// Pure functions: no clock, no I/O. Checked against AWS's published examples and against
// botocore (tests/objstore/sigv4_test.cc, tests/objstore/sigv4_botocore_test.py).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dbaas::objstore {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless the credentials are temporary
};

struct SigningRequest {
  std::string method;  // "GET", "PUT", ...
  std::string path;    // the decoded path, e.g. "/bucket/a key" (encoded here)
  std::vector<std::pair<std::string, std::string>> query;    // decoded names and values
  std::vector<std::pair<std::string, std::string>> headers;  // must include "host"
  std::string payload_sha256;                                // lowercase hex, or "UNSIGNED-PAYLOAD"
};

struct SigningScope {
  std::string region;    // "us-east-1"
  std::string service;   // "s3"
  std::string amz_date;  // "20150830T123600Z" (the request's x-amz-date header)
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // lowercase hex
  std::string authorization;  // the Authorization header's value
};

Signature SignV4(const SigningRequest& request, const Credentials& credentials,
                 const SigningScope& scope);

// RFC 3986 percent-encoding as SigV4 defines it: unreserved characters (A-Z a-z 0-9 - . _ ~)
// kept, every other byte %XX in uppercase hex; '/' kept only when `keep_slash`.
std::string UriEncode(std::string_view text, bool keep_slash);

// "20150830T123600Z" for a time in seconds since the epoch (UTC).
std::string AmzDate(int64_t unix_seconds);

}  // namespace dbaas::objstore
