// A backup's record as a bucket keeps it: round trip, the password only where the bucket is
// encrypted, and everything a reader later uses checked before it is trusted (a bucket
// that is not encrypted can be written by whoever holds it).
#include "control/bucket_record.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace dbaas::control {
namespace {

using nlohmann::json;

catalog::BackupRecord Backup() {
  catalog::BackupRecord b;
  b.name = "orders-b1";
  b.instance = "orders";
  b.instance_type = "postgresql";
  b.status = catalog::BackupState::kReady;
  b.snapshot_id = "0123456789abcdef";
  b.created_at = "2026-11-29T14:00:00.123Z";
  b.retention_days = 7;
  b.size = 123456;
  b.stored_bytes = 789;
  b.info = {{"walArchive", "orders.0a1b2c3d"},
            {"stopLsn", "0/3000100"},
            {"volumeSize", "20Gi"},
            {"config", {{"work_mem", "16MB"}}}};
  b.secret = "s3cr3t-password";
  b.pinned = true;
  b.schedule_id = "s01234567";
  b.drill = {{"status", "passed"}};
  return b;
}

Result<catalog::BackupRecord> Decode(const std::vector<uint8_t>& bytes, bool encrypted = true) {
  return DecodeBucketRecord(bytes, "0123456789abcdef", "offsite", encrypted);
}

std::vector<uint8_t> Bytes(const json& j) {
  std::string text = j.dump();
  return {text.begin(), text.end()};
}

TEST(BucketRecordTest, RoundTripsWhatARestoreNeedsAndNoMore) {
  auto decoded = Decode(EncodeBucketRecord(Backup(), true));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->name, "orders-b1");
  EXPECT_EQ(decoded->instance, "orders");
  EXPECT_EQ(decoded->instance_type, "postgresql");
  EXPECT_EQ(decoded->status, catalog::BackupState::kReady);
  EXPECT_EQ(decoded->snapshot_id, "0123456789abcdef");
  EXPECT_EQ(decoded->created_at, "2026-11-29T14:00:00.123Z");
  EXPECT_EQ(decoded->retention_days, 7);
  EXPECT_EQ(decoded->size, 123456u);
  EXPECT_EQ(decoded->stored_bytes, 789u);
  EXPECT_EQ(decoded->info, Backup().info);
  EXPECT_EQ(decoded->secret, "s3cr3t-password");
  EXPECT_TRUE(decoded->pinned);
  EXPECT_EQ(decoded->schedule_id, "") << "schedules are the host's";
  EXPECT_TRUE(decoded->drill.is_null()) << "drills are the host's";
}

TEST(BucketRecordTest, APasswordIsKeptOnlyInEncryptedRepositoriesAndRefusedFromOthers) {
  std::vector<uint8_t> plain = EncodeBucketRecord(Backup(), false);
  EXPECT_EQ(std::string(plain.begin(), plain.end()).find("s3cr3t"), std::string::npos);
  auto decoded = Decode(plain, false);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->secret, "");
  // Someone with the plain bucket adds one: refused, not imported.
  auto forged = Decode(EncodeBucketRecord(Backup(), true), false);
  EXPECT_EQ(forged.status().code(), StatusCode::kCorruption);
  EXPECT_NE(forged.status().message().find("only in encrypted"), std::string::npos);
  // A backup without a password writes none (never an empty one).
  catalog::BackupRecord without = Backup();
  without.secret.clear();
  auto none = Decode(EncodeBucketRecord(without, true));
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->secret, "");
}

TEST(BucketRecordTest, WhatALaterReaderUsesIsCheckedFirst) {
  const json good = json::parse(std::string([] {
    auto bytes = EncodeBucketRecord(Backup(), true);
    return std::string(bytes.begin(), bytes.end());
  }()));
  auto refused = [&](const std::function<void(json&)>& change) {
    json record = good;
    change(record);
    auto decoded = Decode(Bytes(record));
    return !decoded.ok() && decoded.status().code() == StatusCode::kCorruption;
  };
  EXPECT_TRUE(refused([](json& r) { r["format"] = "other"; }));
  EXPECT_TRUE(refused([](json& r) { r["version"] = 2; }));
  EXPECT_TRUE(refused([](json& r) { r.erase("backup"); }));
  EXPECT_TRUE(refused([](json& r) { r["backup"]["name"] = "../etc"; }));
  EXPECT_TRUE(refused([](json& r) { r["backup"]["instance"] = "Orders!"; }));
  EXPECT_TRUE(refused([](json& r) { r["backup"]["instanceType"] = "oracle"; }));
  EXPECT_TRUE(refused([](json& r) { r["backup"]["createdAt"] = "yesterday"; }));
  EXPECT_TRUE(refused([](json& r) { r["backup"]["dataBytes"] = -1; }));
  EXPECT_TRUE(refused([](json& r) { r["backup"]["retentionDays"] = 0; }));
  EXPECT_TRUE(refused([](json& r) { r["backup"]["info"] = "x"; }));
  EXPECT_TRUE(refused([](json& r) { r["backup"]["info"]["walArchive"] = "../../etc"; }));
  EXPECT_TRUE(refused([](json& r) { r["backup"]["info"]["walArchive"] = 7; }));
  EXPECT_TRUE(refused([](json& r) { r["backup"]["info"]["volumeSize"] = "a lot"; }));
  EXPECT_TRUE(refused([](json& r) { r["backup"]["info"]["config"] = {{"work_mem", 16}}; }));
  EXPECT_TRUE(refused([](json& r) { r["secret"] = 42; }));
  EXPECT_TRUE(refused([](json& r) { r["backup"]["info"]["pad"] = std::string(2 << 20, 'x'); }));
  EXPECT_FALSE(Decode({'{'}).ok());
  EXPECT_FALSE(refused([](json&) {})) << "the unchanged record is accepted";
}

}  // namespace
}  // namespace dbaas::control
