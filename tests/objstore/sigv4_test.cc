// SigV4 against AWS's published examples: the general test suite's "get-vanilla" and the
// S3 developer guide's worked examples (GET with a range, PUT with a '$' in the key, GET
// with a sub-resource, GET with a query). Random requests are checked against botocore in
// sigv4_botocore_test.py.
#include "objstore/sigv4.h"

#include <gtest/gtest.h>

#include "base/sha256.h"

namespace dbaas::objstore {
namespace {

const Credentials kS3Example{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                             ""};
const SigningScope kS3Scope{"us-east-1", "s3", "20130524T000000Z"};
const char* kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

SigningRequest S3Get(std::string path, std::vector<std::pair<std::string, std::string>> query) {
  return {"GET",
          std::move(path),
          std::move(query),
          {{"Host", "examplebucket.s3.amazonaws.com"},
           {"x-amz-content-sha256", kEmptySha256},
           {"x-amz-date", "20130524T000000Z"}},
          kEmptySha256};
}

TEST(SigV4Test, GeneralTestSuiteGetVanilla) {
  SigningRequest request{"GET",
                         "/",
                         {},
                         {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}},
                         kEmptySha256};
  Signature sig = SignV4(request, {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""},
                         {"us-east-1", "service", "20150830T123600Z"});
  EXPECT_EQ(sig.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  EXPECT_EQ(sig.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4Test, S3GetObjectWithRange) {
  SigningRequest request = S3Get("/test.txt", {});
  request.headers.emplace_back("Range", "bytes=0-9");
  Signature sig = SignV4(request, kS3Example, kS3Scope);
  EXPECT_EQ(sig.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_NE(sig.canonical_request.find("\nhost;range;x-amz-content-sha256;x-amz-date\n"),
            std::string::npos)
      << sig.canonical_request;
}

TEST(SigV4Test, S3PutObjectEncodesTheKeyOnce) {
  std::string body = "Welcome to Amazon S3.";
  std::string body_sha = Sha256(body).Hex();
  SigningRequest request{"PUT",
                         "/test$file.text",
                         {},
                         {{"Host", "examplebucket.s3.amazonaws.com"},
                          {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                          {"x-amz-date", "20130524T000000Z"},
                          {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                          {"x-amz-content-sha256", body_sha}},
                         body_sha};
  Signature sig = SignV4(request, kS3Example, kS3Scope);
  EXPECT_EQ(sig.canonical_request.substr(0, 21), "PUT\n/test%24file.text");
  EXPECT_EQ(sig.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4Test, S3SubresourceAndQuery) {
  EXPECT_EQ(SignV4(S3Get("/", {{"lifecycle", ""}}), kS3Example, kS3Scope).signature,
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
  // Given out of order: the canonical query sorts them.
  EXPECT_EQ(
      SignV4(S3Get("/", {{"prefix", "J"}, {"max-keys", "2"}}), kS3Example, kS3Scope).signature,
      "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4Test, HeaderValuesAreTrimmedAndJoined) {
  SigningRequest request = S3Get("/k", {});
  request.headers.emplace_back("X-Amz-Meta-A", "  one   two ");
  request.headers.emplace_back("x-amz-meta-a", "three");
  Signature sig = SignV4(request, kS3Example, kS3Scope);
  EXPECT_NE(sig.canonical_request.find("\nx-amz-meta-a:one two,three\n"), std::string::npos)
      << sig.canonical_request;
}

TEST(SigV4Test, UriEncodeKeepsOnlyUnreserved) {
  EXPECT_EQ(UriEncode("a b/c~d.e_f-g+h=é", true), "a%20b/c~d.e_f-g%2Bh%3D%C3%A9");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(AmzDate(1440938160), "20150830T123600Z");
}

}  // namespace
}  // namespace dbaas::objstore
