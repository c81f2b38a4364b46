// The daemon's check of a pod agent's listing (kube_runtime/agent_source_tree.h): the pod
// is the tenant's, so what it says bounds nothing the daemon allocates and plants nothing
// a restore makes.
#include <gtest/gtest.h>

#include "engines/postgres/pg_backup.h"
#include "kube_runtime/agent_source_tree.h"
#include "storage/manifest.h"

namespace dbaas::testing {
namespace {

using storage::EntryType;
using storage::TreeEntry;

TreeEntry Entry(const std::string& path, EntryType type, uint64_t size = 0) {
  TreeEntry e;
  e.path = path;
  e.type = type;
  e.size = size;
  e.mode = type == EntryType::kDirectory ? 04777 : 06755;  // setuid, world-writable
  e.uid = 999;
  e.gid = 999;
  return e;
}

// A listing as the agent sends it.
std::string Listing(std::vector<TreeEntry> entries) {
  storage::Manifest m;
  m.id = "0123456789abcdef";
  m.kind = storage::SnapshotKind::kThin;
  m.source = "/data/orders/data";
  m.entries = std::move(entries);
  return storage::EncodeManifest(m);
}

std::vector<TreeEntry> DataDirectory() {
  return {Entry(".", EntryType::kDirectory),
          Entry("PG_VERSION", EntryType::kFile, 3),
          Entry("base", EntryType::kDirectory),
          Entry("base/5", EntryType::kDirectory),
          Entry("base/5/1259", EntryType::kFile, 8192),
          Entry("pg_wal", EntryType::kDirectory),
          Entry("pg_wal/000000010000000000000001", EntryType::kFile, 16 << 20),
          Entry("postmaster.pid", EntryType::kFile, 100)};
}

TEST(CheckPodTreeTest, KeepsWhatACopyHoldsWithModesAndOwnersOfItsOwn) {
  auto tree = kube_runtime::CheckPodTree(Listing(DataDirectory()), 1 << 30, 1 << 30,
                                         engines::PgBackupFilter, "kube://dbaas-orders/orders");
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  std::vector<std::string> paths;
  for (const TreeEntry& e : tree->entries) {
    paths.push_back(e.path);
    EXPECT_EQ(e.mode, e.type == EntryType::kDirectory ? 0700u : 0600u) << e.path;
    EXPECT_EQ(e.uid, 0u);
    EXPECT_EQ(e.gid, 0u);
  }
  // The filter the daemon applies itself: pg_wal empty, no postmaster.pid.
  EXPECT_EQ(paths, (std::vector<std::string>{".", "PG_VERSION", "base", "base/5", "base/5/1259",
                                             "pg_wal"}));
}

TEST(CheckPodTreeTest, RefusesWhatNoDataDirectoryHoldsWithTheReason) {
  auto check = [](std::vector<TreeEntry> entries, uint64_t max_bytes) {
    return kube_runtime::CheckPodTree(Listing(std::move(entries)), max_bytes, uint64_t{1} << 30, {},
                                      "kube://x/x");
  };
  auto too_large = DataDirectory();
  too_large[4].size = (uint64_t{1} << 30) + 1;  // more than a segment
  auto refused = check(too_large, uint64_t{1} << 40);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("larger than the engine's files"), std::string::npos)
      << refused.status().ToString();
  // An InnoDB tablespace may be as large as the volume (the most a MariaDB copy's file may be).
  EXPECT_TRUE(kube_runtime::CheckPodTree(Listing(too_large), uint64_t{1} << 40, uint64_t{1} << 40,
                                         {}, "kube://x/x")
                  .ok());

  refused = check(DataDirectory(), 1 << 20);  // more than the claim holds
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("more than its volume holds"), std::string::npos);

  auto linked = DataDirectory();
  TreeEntry link = Entry("pg_tblspc", EntryType::kSymlink);
  link.symlink_target = "/etc";
  linked.insert(linked.begin() + 5, link);  // in manifest order, before pg_wal
  refused = check(linked, 1 << 30);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);

  auto escaping = DataDirectory();
  escaping[1].path = "../PG_VERSION";
  EXPECT_FALSE(check(escaping, 1 << 30).ok()) << "a path out of the directory";
  EXPECT_FALSE(
      kube_runtime::CheckPodTree("not a manifest", 1 << 30, 1 << 30, {}, "kube://x/x").ok());
}

}  // namespace
}  // namespace dbaas::testing
