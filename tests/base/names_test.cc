// Names and sizes as users write them.
#include <gtest/gtest.h>

#include "base/byte_quantity.h"
#include "base/names.h"

namespace dbaas {
namespace {

TEST(NamesTest, SubdomainsAreLabelsJoinedByDots) {
  for (const char* good : {"a", "a.b", "my-app.example.com", "0", "a-1.b-2"}) {
    EXPECT_TRUE(IsDns1123Subdomain(good)) << good;
  }
  for (const char* bad : {"", ".", "a.", ".a", "a..b", "A", "a_b", "../x", "a/b", "x?y", "-a"}) {
    EXPECT_FALSE(IsDns1123Subdomain(bad)) << bad;
  }
  EXPECT_TRUE(IsDns1123Subdomain(std::string(63, 'a') + "." + std::string(63, 'b')));
  EXPECT_FALSE(IsDns1123Subdomain(std::string(64, 'a')));
  EXPECT_FALSE(IsDns1123Subdomain(std::string(254, 'a')));
}

TEST(ByteQuantityTest, TakesKubernetesQuantitiesOfBytesUpToOnePebibyte) {
  EXPECT_EQ(ParseByteQuantity("10Gi"), 10ull << 30);
  EXPECT_EQ(ParseByteQuantity("512Mi"), 512ull << 20);
  EXPECT_EQ(ParseByteQuantity("1G"), 1000000000ull);
  EXPECT_EQ(ParseByteQuantity("4096"), 4096ull);
  EXPECT_EQ(ParseByteQuantity("1024Ti"), 1ull << 50);
  for (const char* bad : {"", "Gi", "10GB", "1.5Gi", "-1", "10 Gi", "1025Ti", "16777217Ti",
                          "99999999999999999", "10gi"}) {
    EXPECT_FALSE(ParseByteQuantity(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace dbaas
