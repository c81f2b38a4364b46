#include "objstore/object_cipher.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/bytes.h"
#include "test_util.h"

namespace dbaas::objstore {
namespace {

std::vector<uint8_t> Bytes(const std::string& text) { return {text.begin(), text.end()}; }

TEST(ObjectCipherTest, RoundTripsAtEverySizeAroundFrames) {
  Key256 key = RandomKey();
  for (size_t size : {0, 1, 63, 64, 65, 128, 129, 1000}) {
    auto plain = Bytes(testing::RandomBytes(size, static_cast<unsigned>(size)));
    auto sealed = Seal(key, "packs/ab.pack", plain, 64);
    EXPECT_EQ(sealed.size(), SealedSize(size, 64));
    auto opened = Open(key, "packs/ab.pack", sealed);
    ASSERT_TRUE(opened.ok()) << size << ": " << opened.status().ToString();
    EXPECT_EQ(*opened, plain) << size;
  }
  // The same plaintext twice seals differently (a fresh nonce each time).
  EXPECT_NE(Seal(key, "x", Bytes("same")), Seal(key, "x", Bytes("same")));
}

TEST(ObjectCipherTest, EveryFlippedBitTruncationAndRenameIsDetected) {
  Key256 key = RandomKey();
  auto plain = Bytes(testing::RandomBytes(200, 3));
  auto sealed = Seal(key, "snapshots/0123.manifest", plain, 64);
  for (size_t byte = 0; byte < sealed.size(); ++byte) {
    for (int bit = 0; bit < 8; bit += 3) {
      auto damaged = sealed;
      damaged[byte] ^= static_cast<uint8_t>(1 << bit);
      auto opened = Open(key, "snapshots/0123.manifest", damaged);
      ASSERT_FALSE(opened.ok()) << "byte " << byte << " bit " << bit;
      EXPECT_EQ(opened.status().code(), StatusCode::kCorruption);
      EXPECT_NE(opened.status().message().find("'snapshots/0123.manifest'"), std::string::npos);
    }
  }
  // Cut at every frame boundary and anywhere else: never accepted as a shorter object.
  for (size_t cut = 0; cut < sealed.size(); ++cut) {
    EXPECT_FALSE(Open(key, "snapshots/0123.manifest", std::span(sealed).first(cut)).ok()) << cut;
  }
  EXPECT_FALSE(Open(key, "snapshots/4567.manifest", sealed).ok()) << "moved to another name";
  EXPECT_FALSE(Open(RandomKey(), "snapshots/0123.manifest", sealed).ok()) << "another key";
}

TEST(ObjectCipherTest, AnObjectSealedByTheDocumentedLayoutOpens) {
  // fuzz/seeds/sealed_object/three_frames was sealed by Python's cryptography (AES-GCM)
  // from the layout in docs/formats/remote.md alone: 150 bytes 0..149, the all-zero key,
  // frames of 64 bytes, nonce prefix 01 x 8, name "packs/fuzz.pack".
  std::string sealed =
      testing::ReadFile(std::string(DBAAS_FUZZ_SEEDS_DIR) + "/sealed_object/three_frames");
  auto opened = Open(Key256{}, "packs/fuzz.pack", AsBytes(sealed));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  ASSERT_EQ(opened->size(), 150u);
  for (size_t i = 0; i < 150; ++i) EXPECT_EQ((*opened)[i], i) << i;
}

TEST(ObjectCipherTest, PassphrasesDeriveStableKeysPerSalt) {
  ScryptParams params{"00112233445566778899aabbccddeeff", 1u << 10, 8, 1};
  auto a = DeriveKeyFromPassphrase("correct horse", params);
  auto b = DeriveKeyFromPassphrase("correct horse", params);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, DeriveKeyFromPassphrase("correct horse!", params).value());
  params.salt_hex = "ffeeddccbbaa99887766554433221100";
  EXPECT_NE(*a, DeriveKeyFromPassphrase("correct horse", params).value());
  params.n = 1000;  // not a power of two
  EXPECT_FALSE(DeriveKeyFromPassphrase("x", params).ok());
  params.n = 1u << 22;  // 16 GiB with r = 32: refused before it is tried
  params.r = 32;
  EXPECT_EQ(DeriveKeyFromPassphrase("x", params).status().code(), StatusCode::kCorruption);
}

TEST(ObjectCipherTest, SecretFilesMustBeOursAlone) {
  testing::TempDir dir;
  std::string path = dir / "key";
  testing::WriteFile(path, std::string(64, 'a') + "\n");
  chmod(path.c_str(), 0644);
  auto refused = ReadKeyFile(path);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().hint().find("chmod 600"), std::string::npos);
  chmod(path.c_str(), 0600);
  auto key = ReadKeyFile(path);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ((*key)[0], 0xaa);
  testing::WriteFile(path, "not hex");
  chmod(path.c_str(), 0600);
  EXPECT_EQ(ReadKeyFile(path).status().code(), StatusCode::kInvalidArgument);
  testing::WriteFile(path, std::string(64, 'a'));
  chmod(path.c_str(), 0600);
  ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);  // nobody's, 0600: not ours
  auto foreign = ReadKeyFile(path);
  EXPECT_EQ(foreign.status().code(), StatusCode::kFailedPrecondition)
      << foreign.status().ToString();
  EXPECT_NE(foreign.status().message().find("not to us"), std::string::npos);
  ASSERT_EQ(chown(path.c_str(), 0, 0), 0);
  std::string link = dir / "link";
  ASSERT_EQ(symlink(path.c_str(), link.c_str()), 0);
  EXPECT_FALSE(ReadSecretFile(link).ok()) << "a link is not followed";
}

}  // namespace
}  // namespace dbaas::objstore
