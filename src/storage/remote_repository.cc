#include "storage/remote_repository.h"

#include <fmt/format.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <numeric>
#include <set>
#include <unordered_set>

#include "base/bytes.h"
#include "base/hex.h"
#include "base/names.h"
#include "base/parallel.h"
#include "storage/blob_codec.h"
#include "storage/chunk_list.h"
#include "storage/pack_writer.h"
#include "storage/repo_maintenance.h"
#include "storage/wal_archive.h"

namespace dbaas::storage {
namespace {

using nlohmann::json;
using objstore::Key256;

constexpr const char* kFormat = "dbaas-remote-repo";
constexpr unsigned kTransfers = 4;  // objects in flight at once

std::string PackObject(const std::string& name) { return "packs/" + name + ".pack"; }
std::string IndexObject(const std::string& name) { return "packs/" + name + ".index"; }
std::string ManifestObject(const std::string& id) { return "snapshots/" + id + ".manifest"; }
std::string BlobsObject(const std::string& id) { return "snapshots/" + id + ".blobs"; }
std::string RecordObject(const std::string& id) { return "snapshots/" + id + ".record"; }

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The key-encryption key `spec` names; a passphrase is stretched with `scrypt`.
Result<Key256> KeyEncryptionKey(const RemoteKeySpec& spec, const objstore::ScryptParams& scrypt) {
  if (spec.kind == RemoteKeySpec::Kind::kKeyFile) return objstore::ReadKeyFile(spec.path);
  ASSIGN_OR_RETURN(std::string passphrase, objstore::ReadSecretFile(spec.path));
  return objstore::DeriveKeyFromPassphrase(passphrase, scrypt);
}

// config.json's "encryption" for `data_key` wrapped under `spec`.
Result<json> EncryptionConfig(const RemoteKeySpec& spec, const Key256& data_key) {
  json encryption = {{"cipher", "aes-256-gcm-frames"}};
  objstore::ScryptParams scrypt;
  if (spec.kind == RemoteKeySpec::Kind::kPassphraseFile) {
    scrypt.salt_hex = RandomHex(16);
    encryption["key"] = "passphrase";
    encryption["scrypt"] = {
        {"salt", scrypt.salt_hex}, {"n", scrypt.n}, {"r", scrypt.r}, {"p", scrypt.p}};
  } else {
    encryption["key"] = "keyfile";
  }
  ASSIGN_OR_RETURN(Key256 kek, KeyEncryptionKey(spec, scrypt));
  encryption["wrappedKey"] = HexEncode(objstore::Seal(kek, "data-key", data_key));
  return encryption;
}

// Index objects: the pack's size (u64, little-endian), then the pack's tail (its index and
// footer) as they are in the pack.
std::vector<uint8_t> EncodeIndexObject(uint64_t pack_size, std::string_view tail) {
  std::vector<uint8_t> out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(pack_size >> (8 * i));
  out.insert(out.end(), tail.begin(), tail.end());
  return out;
}

Result<std::vector<PackBlobEntry>> ParseIndexObject(std::span<const uint8_t> data,
                                                    uint64_t& pack_size) {
  if (data.size() < 8 + kPackFooterSize) return Status::Corruption("index object too short");
  pack_size = 0;
  for (int i = 0; i < 8; ++i) pack_size |= uint64_t{data[i]} << (8 * i);
  std::span<const uint8_t> tail = data.subspan(8);
  ASSIGN_OR_RETURN(PackFooter footer, ParsePackFooter(tail.last(kPackFooterSize), pack_size));
  if (footer.index_offset + tail.size() != pack_size) {
    return Status::Corruption("index object does not match its pack's size");
  }
  return ParsePackIndex(tail.first(tail.size() - kPackFooterSize), footer);
}

std::string WalObject(const std::string& archive_id, const std::string& name) {
  return "wal/" + archive_id + "/" + name;
}

// A field of a plaintext JSON object from the bucket, "" unless it is a string.
std::string TextField(const json& object, const char* field) {
  if (!object.is_object() || !object.contains(field) || !object[field].is_string()) return "";
  return object[field].get<std::string>();
}

// The part of a listed key after `prefix` (which a listing by that prefix guarantees; a
// server that breaks it gets "").
std::string_view AfterPrefix(std::string_view key, std::string_view prefix) {
  return key.starts_with(prefix) ? key.substr(prefix.size()) : std::string_view();
}

// Committed snapshots (by their manifests), the ids that have a blob list and those that
// have a record.
struct SnapshotObjects {
  std::set<std::string> manifests;
  std::map<std::string, objstore::ObjectInfo> blob_lists;
  std::map<std::string, objstore::ObjectInfo> records;
  bool operator==(const SnapshotObjects& other) const {
    if (manifests != other.manifests || blob_lists.size() != other.blob_lists.size()) return false;
    for (const auto& [id, info] : blob_lists) {
      auto it = other.blob_lists.find(id);
      if (it == other.blob_lists.end() || it->second.etag != info.etag) return false;
    }
    return true;
  }
};

Result<SnapshotObjects> ListSnapshotObjects(objstore::ObjectStore& store) {
  ASSIGN_OR_RETURN(auto objects, store.List("snapshots/"));
  SnapshotObjects out;
  for (const auto& object : objects) {
    std::string_view key = AfterPrefix(object.key, "snapshots/");
    if (key.ends_with(".manifest")) out.manifests.emplace(key.substr(0, key.size() - 9));
    if (key.ends_with(".blobs"))
      out.blob_lists.emplace(std::string(key.substr(0, key.size() - 6)), object);
    if (key.ends_with(".record"))
      out.records.emplace(std::string(key.substr(0, key.size() - 7)), object);
  }
  return out;
}

}  // namespace

RemoteRepository::RemoteRepository(objstore::ObjectStore& store, std::string id,
                                   std::optional<Key256> data_key, std::string config_json)
    : store_(store),
      id_(std::move(id)),
      data_key_(data_key),
      config_json_(std::move(config_json)) {}

Status RemoteRepository::Init(objstore::ObjectStore& store, const RemoteKeySpec& key) {
  auto existing = store.Get("config.json");
  if (existing.ok()) {
    return Status::AlreadyExists(fmt::format("{} already holds a repository", store.Describe()));
  }
  if (existing.status().code() != StatusCode::kNotFound) return existing.status();
  // Without config.json but with data, the bucket held a repository whose config was lost:
  // a new one (a new data key) would make its sealed objects unreadable.
  for (const char* prefix : {"packs/", "snapshots/", "wal/"}) {
    ASSIGN_OR_RETURN(auto objects, store.List(prefix));
    if (!objects.empty()) {
      return Status::FailedPrecondition(
          fmt::format("{} has no config.json but holds {} (a repository's objects)",
                      store.Describe(), prefix),
          "restore config.json from a copy, or empty the bucket to start over");
    }
  }
  json config = {
      {"format", kFormat}, {"version", 1}, {"id", RandomHex(8)}, {"encryption", nullptr}};
  if (key.kind != RemoteKeySpec::Kind::kNone) {
    ASSIGN_OR_RETURN(config["encryption"], EncryptionConfig(key, objstore::RandomKey()));
  }
  std::string text = config.dump(2) + "\n";
  return store.Put("config.json", AsBytes(text));
}

Result<std::unique_ptr<RemoteRepository>> RemoteRepository::Open(objstore::ObjectStore& store,
                                                                 const RemoteKeySpec& key) {
  auto data = store.Get("config.json");
  if (!data.ok()) {
    if (data.status().code() == StatusCode::kNotFound) {
      return Status::NotFound(
          fmt::format("{} holds no repository (no config.json)", store.Describe()),
          "make one with 'dbaas remote init'");
    }
    return data.status();
  }
  std::string text(data->begin(), data->end());
  json config = json::parse(text, nullptr, false);
  // Plaintext from the bucket: every field's type is checked before it is read.
  if (config.is_discarded() || !config.is_object() || !config.contains("format") ||
      config["format"] != kFormat || !config.contains("id") || !config["id"].is_string() ||
      !config.contains("version") || !config["version"].is_number_integer() ||
      !config.contains("encryption")) {
    return Status::Corruption(
        fmt::format("{}: config.json is not a remote repository's", store.Describe()));
  }
  if (config["version"] != 1) {
    return Status::FailedPrecondition(
        fmt::format("{}: repository version {} is not one this build reads", store.Describe(),
                    config["version"].dump()));
  }
  std::optional<Key256> data_key;
  const json& encryption = config["encryption"];
  if (encryption.is_null()) {
    if (key.kind != RemoteKeySpec::Kind::kNone) {
      return Status::FailedPrecondition(
          fmt::format("{} is not encrypted, but a key was given", store.Describe()),
          "give no key, or make an encrypted repository elsewhere");
    }
  } else {
    if (key.kind == RemoteKeySpec::Kind::kNone) {
      return Status::FailedPrecondition(fmt::format("{} is encrypted", store.Describe()),
                                        "give its key file or passphrase file");
    }
    try {
      objstore::ScryptParams scrypt;
      if (!encryption.is_object()) {
        return Status::Corruption(fmt::format("{}: config.json: bad encryption", store.Describe()));
      }
      if (encryption.contains("key") && encryption["key"] == "passphrase") {
        const json& params = encryption.at("scrypt");
        scrypt = {params.at("salt").get<std::string>(), params.at("n").get<uint64_t>(),
                  params.at("r").get<uint32_t>(), params.at("p").get<uint32_t>()};
      }
      auto kek_or = KeyEncryptionKey(key, scrypt);
      if (!kek_or.ok())
        return kek_or.status().WithContext(fmt::format("{}: config.json", store.Describe()));
      Key256 kek = kek_or.value();
      auto wrapped = HexDecode(encryption.at("wrappedKey").get<std::string>());
      if (!wrapped)
        return Status::Corruption(fmt::format("{}: config.json: bad wrappedKey", store.Describe()));
      auto unwrapped = objstore::Open(kek, "data-key", *wrapped);
      if (!unwrapped.ok() || unwrapped->size() != 32) {
        return Status::FailedPrecondition(
            fmt::format("{}: the key given does not open this repository's data key",
                        store.Describe()),
            "give the key (or passphrase) the repository was made or last re-keyed with");
      }
      data_key.emplace();
      std::memcpy(data_key->data(), unwrapped->data(), 32);
    } catch (const json::exception& e) {
      return Status::Corruption(fmt::format("{}: config.json: {}", store.Describe(), e.what()));
    }
  }
  return std::unique_ptr<RemoteRepository>(
      new RemoteRepository(store, config["id"].get<std::string>(), data_key, std::move(text)));
}

std::vector<uint8_t> RemoteRepository::Encode(std::string_view name,
                                              std::span<const uint8_t> plain) const {
  if (data_key_) return objstore::Seal(*data_key_, name, plain);
  return {plain.begin(), plain.end()};
}

Result<std::vector<uint8_t>> RemoteRepository::Decode(std::string_view name,
                                                      std::vector<uint8_t> stored) const {
  if (data_key_) return objstore::Open(*data_key_, name, stored);
  return stored;
}

Status RemoteRepository::PutObject(const std::string& name, std::span<const uint8_t> plain) {
  return store_.Put(name, Encode(name, plain));
}

Result<std::vector<uint8_t>> RemoteRepository::GetObject(const std::string& name) {
  ASSIGN_OR_RETURN(std::vector<uint8_t> stored, store_.Get(name));
  return Decode(name, std::move(stored));
}

Status RemoteRepository::AcquireLease(const std::string& owner, const std::string& host,
                                      bool take_over) {
  auto current = store_.Get("lease.json");
  if (current.ok()) {
    json lease = json::parse(current->begin(), current->end(), nullptr, false);
    std::string holder = TextField(lease, "owner");
    if (holder != owner && !take_over) {
      return Status::FailedPrecondition(
          fmt::format("{} is leased to writer '{}' on '{}' since {}", Describe(), holder,
                      TextField(lease, "host"), TextField(lease, "since")),
          "only one daemon may write a bucket; to move the writer here (disaster recovery), "
          "take the lease over explicitly once the other one is stopped");
    }
  } else if (current.status().code() != StatusCode::kNotFound) {
    return current.status();
  }
  json lease = {{"owner", owner},
                {"host", host},
                {"since", FormatUnixTime(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count())}};
  std::string text = lease.dump() + "\n";
  RETURN_IF_ERROR(store_.Put("lease.json", AsBytes(text)));
  // Read back: of two writers taking it at once, the one whose lease stayed goes on.
  ASSIGN_OR_RETURN(auto written, store_.Get("lease.json"));
  json check = json::parse(written.begin(), written.end(), nullptr, false);
  if (TextField(check, "owner") != owner) {
    return Status::Busy(
        fmt::format("{}: another writer took the lease at the same time", Describe()));
  }
  lease_owner_ = owner;
  return Status::Ok();
}

Status RemoteRepository::CheckLease() {
  if (lease_owner_.empty()) {
    return Status::FailedPrecondition(
        fmt::format("{}: writing needs the writer's lease", Describe()));
  }
  // Read again before a writer starts and before it commits: one whose lease was taken
  // over stops.
  auto current = store_.Get("lease.json");
  if (!current.ok() && current.status().code() == StatusCode::kNotFound) {
    lease_owner_.clear();
    return Status::FailedPrecondition(
        fmt::format("{}: the writer's lease (lease.json) is gone", Describe()),
        "take it again: dbaas remote lease --repo REPO");
  }
  if (!current.ok()) return current.status();
  json lease = json::parse(current->begin(), current->end(), nullptr, false);
  if (TextField(lease, "owner") != lease_owner_) {
    std::string holder = TextField(lease, "owner");
    lease_owner_.clear();
    return Status::FailedPrecondition(
        fmt::format("{}: the lease was taken over by writer '{}'", Describe(), holder),
        "another daemon writes this bucket now; take the lease back explicitly if that is wrong");
  }
  return Status::Ok();
}

Status RemoteRepository::LoadIndex() {
  ASSIGN_OR_RETURN(auto objects, store_.List("packs/"));
  std::vector<std::string> names;
  for (const auto& object : objects) {
    std::string_view key = AfterPrefix(object.key, "packs/");
    if (!key.ends_with(".index")) continue;
    std::string name(key.substr(0, key.size() - 6));
    if (!packs_.count(name)) names.push_back(std::move(name));
  }
  std::vector<PackIndex> loaded(names.size());
  RETURN_IF_ERROR(ParallelFor(names.size(), 8, [&](size_t i, unsigned) -> Status {
    ASSIGN_OR_RETURN(auto data, GetObject(IndexObject(names[i])));
    auto entries = ParseIndexObject(data, loaded[i].pack_size);
    if (!entries.ok())
      return entries.status().WithContext(fmt::format("{}: {}", Describe(), IndexObject(names[i])));
    loaded[i].entries = std::move(entries).value();
    return Status::Ok();
  }));
  for (size_t i = 0; i < names.size(); ++i) {
    for (const PackBlobEntry& e : loaded[i].entries) blobs_.try_emplace(e.id, names[i], e);
    packs_[names[i]] = std::move(loaded[i]);
  }
  return Status::Ok();
}

Result<PushStats> RemoteRepository::Push(const Repository& local, const std::string& id,
                                         Progress* progress, std::span<const uint8_t> record) {
  auto start = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(CheckLease());
  ASSIGN_OR_RETURN(Manifest manifest, local.LoadSnapshot(id));
  if (manifest.kind == SnapshotKind::kThin) {
    return Status::FailedPrecondition(
        fmt::format("snapshot {} is thin (a reflink clone on the local volume)", id),
        "thin snapshots stay on their volume; copy a repository snapshot");
  }
  PushStats stats;
  ASSIGN_OR_RETURN(auto there, store_.List(ManifestObject(id)));
  if (!there.empty()) {
    stats.already_there = true;
    // The record as the backup is now (a first one for a snapshot pushed without).
    if (!record.empty()) RETURN_IF_ERROR(PutObject(RecordObject(id), record));
    stats.seconds = SecondsSince(start);
    return stats;
  }
  // Afresh: packs may have gone since the last push (a gc by another process).
  packs_.clear();
  blobs_.clear();
  RETURN_IF_ERROR(LoadIndex());
  BlobSet live;
  BlobCodec codec;
  RETURN_IF_ERROR(AddReferencedBlobs(local, manifest, live, codec));
  RETURN_IF_ERROR(AddDeltaBases(local, live));
  stats.blobs = live.size();

  // What the remote lacks, in the order of the local packs (sequential reads), in packs
  // of the local repository's target size.
  std::vector<BlobLocation> missing;
  for (const BlobId& blob : live) {
    if (blobs_.count(blob)) continue;
    ASSIGN_OR_RETURN(std::optional<BlobLocation> loc, local.FindBlob(blob));
    if (!loc) {
      return Status::Corruption(
          fmt::format("snapshot {} references blob {} that the local repository lacks", id,
                      blob.Hex()),
          "run 'dbaas repo verify'");
    }
    missing.push_back(*loc);
  }
  std::sort(missing.begin(), missing.end(), [](const BlobLocation& a, const BlobLocation& b) {
    return std::tie(a.pack, a.entry.offset) < std::tie(b.pack, b.entry.offset);
  });
  std::vector<std::pair<size_t, size_t>> groups;  // [begin, end) of `missing`
  uint64_t group_bytes = 0;
  for (size_t i = 0; i < missing.size(); ++i) {
    if (groups.empty() || group_bytes >= local.config().pack_target_size) {
      groups.emplace_back(i, i);
      group_bytes = 0;
    }
    groups.back().second = i + 1;
    group_bytes += missing[i].entry.stored_size;
  }
  if (progress)
    progress->total_bytes += std::accumulate(
        missing.begin(), missing.end(), uint64_t{0},
        [](uint64_t sum, const BlobLocation& loc) { return sum + loc.entry.stored_size; });
  std::mutex mutex;
  RETURN_IF_ERROR(ParallelFor(groups.size(), kTransfers, [&](size_t g, unsigned) -> Status {
    std::string pack(kPackHeaderMagic);
    std::vector<PackBlobEntry> entries;
    std::vector<uint8_t> stored;
    for (size_t i = groups[g].first; i < groups[g].second; ++i) {
      RETURN_IF_ERROR(local.ReadStored(missing[i], stored));
      PackBlobEntry entry = missing[i].entry;
      entry.offset = pack.size();
      pack.append(reinterpret_cast<const char*>(stored.data()), stored.size());
      entries.push_back(entry);
      ReportBytes(progress, stored.size());
    }
    std::string tail = EncodePackTail(entries, pack.size());
    pack += tail;
    std::string name = RandomHex(16);
    RETURN_IF_ERROR(PutObject(PackObject(name), AsBytes(pack)));
    RETURN_IF_ERROR(PutObject(IndexObject(name), EncodeIndexObject(pack.size(), tail)));
    std::lock_guard lock(mutex);
    for (const PackBlobEntry& e : entries) blobs_.try_emplace(e.id, name, e);
    stats.blobs_sent += entries.size();
    stats.bytes_sent += (data_key_ ? objstore::SealedSize(pack.size()) : pack.size());
    stats.packs_sent++;
    packs_[name] = {pack.size(), std::move(entries)};
    return Status::Ok();
  }));

  // The packs this snapshot uses that were there before it must be there still (a gc by
  // another process may have judged them unused): checked before the commit.
  std::set<std::string> used_packs;
  for (const BlobId& blob : live) used_packs.insert(blobs_.at(blob).first);
  ASSIGN_OR_RETURN(auto listed, store_.List("packs/"));
  std::set<std::string> present;
  for (const auto& object : listed) present.insert(object.key);
  for (const std::string& pack : used_packs) {
    if (!present.count(IndexObject(pack))) {
      packs_.clear();
      blobs_.clear();
      return Status::Busy(fmt::format("{}: {} went away during the push of {} (a gc beside it)",
                                      Describe(), PackObject(pack), id),
                          "push again");
    }
  }
  std::vector<uint8_t> blob_list;
  blob_list.reserve(live.size() * 32);
  for (const BlobId& blob : live)
    blob_list.insert(blob_list.end(), blob.bytes.begin(), blob.bytes.end());
  RETURN_IF_ERROR(PutObject(BlobsObject(id), blob_list));
  if (!record.empty()) RETURN_IF_ERROR(PutObject(RecordObject(id), record));
  RETURN_IF_ERROR(CheckLease());
  std::string encoded = EncodeManifest(manifest);
  RETURN_IF_ERROR(PutObject(ManifestObject(id), AsBytes(encoded)));  // the commit
  stats.bytes_sent += blob_list.size() + record.size() + encoded.size();
  stats.seconds = SecondsSince(start);
  return stats;
}

Result<Manifest> RemoteRepository::LoadManifest(const std::string& id) {
  if (!IsValidSnapshotId(id))
    return Status::InvalidArgument(fmt::format("'{}' is not a snapshot id", id));
  auto data = GetObject(ManifestObject(id));
  if (!data.ok()) {
    if (data.status().code() == StatusCode::kNotFound) {
      return Status::NotFound(fmt::format("snapshot {} not found in {}", id, Describe()));
    }
    return data.status();
  }
  auto manifest =
      ParseManifest(std::string_view(reinterpret_cast<const char*>(data->data()), data->size()));
  if (!manifest.ok())
    return manifest.status().WithContext(fmt::format("{}: {}", Describe(), ManifestObject(id)));
  if (manifest->id != id) {
    return Status::Corruption(
        fmt::format("{}: {} holds snapshot {}", Describe(), ManifestObject(id), manifest->id));
  }
  return manifest;
}

Status RemoteRepository::WriteRecord(const std::string& id, std::span<const uint8_t> record) {
  RETURN_IF_ERROR(CheckLease());
  RETURN_IF_ERROR(LoadManifest(id).status());  // the snapshot is here
  return PutObject(RecordObject(id), record);
}

Result<std::optional<std::vector<uint8_t>>> RemoteRepository::ReadRecord(const std::string& id) {
  if (!IsValidSnapshotId(id))
    return Status::InvalidArgument(fmt::format("'{}' is not a snapshot id", id));
  auto data = GetObject(RecordObject(id));
  if (!data.ok() && data.status().code() == StatusCode::kNotFound)
    return std::optional<std::vector<uint8_t>>();
  if (!data.ok())
    return data.status().WithContext(fmt::format("{}: {}", Describe(), RecordObject(id)));
  return std::optional<std::vector<uint8_t>>(std::move(data).value());
}

Result<std::vector<Manifest>> RemoteRepository::ListSnapshots() {
  ASSIGN_OR_RETURN(auto objects, store_.List("snapshots/"));
  std::vector<std::string> ids;
  for (const auto& object : objects) {
    std::string_view key = AfterPrefix(object.key, "snapshots/");
    if (key.ends_with(".manifest")) ids.emplace_back(key.substr(0, key.size() - 9));
  }
  std::vector<Manifest> manifests(ids.size());
  RETURN_IF_ERROR(ParallelFor(ids.size(), 8, [&](size_t i, unsigned) -> Status {
    ASSIGN_OR_RETURN(manifests[i], LoadManifest(ids[i]));
    manifests[i].entries.clear();
    return Status::Ok();
  }));
  std::sort(manifests.begin(), manifests.end(), [](const Manifest& a, const Manifest& b) {
    return a.created_unix_ns > b.created_unix_ns;
  });
  return manifests;
}

Result<Manifest> RemoteRepository::FindSnapshot(std::string_view ref) {
  ASSIGN_OR_RETURN(auto manifests, ListSnapshots());
  const Manifest* found = nullptr;
  for (const Manifest& m : manifests) {
    if (m.id == ref || m.name == ref) {
      found = &m;
      break;
    }
  }
  if (found == nullptr && ref.size() >= 4) {
    for (const Manifest& m : manifests) {
      if (!m.id.starts_with(ref)) continue;
      if (found != nullptr) {
        return Status::InvalidArgument(fmt::format("'{}' names more than one snapshot", ref),
                                       "give more of the id");
      }
      found = &m;
    }
  }
  if (found == nullptr)
    return Status::NotFound(fmt::format("snapshot '{}' not found in {}", ref, Describe()));
  return LoadManifest(found->id);
}

Result<PullStats> RemoteRepository::Pull(const std::string& id, Repository& local,
                                         Progress* progress) {
  auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(Manifest manifest, LoadManifest(id));
  RETURN_IF_ERROR(LoadIndex());
  ASSIGN_OR_RETURN(auto blob_list, GetObject(BlobsObject(id)));
  if (blob_list.size() % 32 != 0) {
    return Status::Corruption(
        fmt::format("{}: {} is not a list of blob ids", Describe(), BlobsObject(id)));
  }
  PullStats stats;
  stats.blobs = blob_list.size() / 32;
  std::map<std::string, std::vector<PackBlobEntry>> by_pack;
  for (size_t at = 0; at < blob_list.size(); at += 32) {
    BlobId blob;
    std::memcpy(blob.bytes.data(), blob_list.data() + at, 32);
    if (local.HasBlob(blob)) continue;
    auto it = blobs_.find(blob);
    if (it == blobs_.end()) {
      return Status::Corruption(
          fmt::format("{}: snapshot {} references blob {}, which no pack holds", Describe(), id,
                      blob.Hex()),
          "run 'dbaas remote verify'");
    }
    by_pack[it->second.first].push_back(it->second.second);
  }
  std::vector<std::string> pack_names;
  for (auto& [name, entries] : by_pack) {
    pack_names.push_back(name);
    if (progress) progress->total_bytes += packs_[name].pack_size;
  }
  std::vector<std::unique_ptr<PackWriter>> writers;
  std::vector<std::unique_ptr<BlobCodec>> codecs;
  for (unsigned t = 0; t < kTransfers; ++t) {
    writers.push_back(std::make_unique<PackWriter>(local.path()));
    codecs.push_back(std::make_unique<BlobCodec>());
  }
  std::mutex mutex;
  std::vector<FinishedPack> finished;
  Status pulled = ParallelFor(pack_names.size(), kTransfers, [&](size_t p, unsigned t) -> Status {
    const std::string& name = pack_names[p];
    const std::vector<PackBlobEntry>& wanted = by_pack.at(name);
    ASSIGN_OR_RETURN(auto pack, GetObject(PackObject(name)));
    std::vector<uint8_t> content;
    for (const PackBlobEntry& entry : wanted) {
      if (entry.offset + entry.stored_size > pack.size()) {
        return Status::Corruption(fmt::format("{}: {}: blob {} lies past the end", Describe(),
                                              PackObject(name), entry.id.Hex()));
      }
      std::span<const uint8_t> stored(pack.data() + entry.offset, entry.stored_size);
      // Checked before it is kept: a delta is checked when it is read against its base.
      if (entry.compression != Compression::kZstdDelta) {
        Status decoded = codecs[t]->Decode(entry, stored, content);
        if (!decoded.ok())
          return decoded.WithContext(fmt::format("{}: {}", Describe(), PackObject(name)));
      }
      RETURN_IF_ERROR(writers[t]->Add(entry, stored));
      if (writers[t]->size() >= local.config().pack_target_size) {
        ASSIGN_OR_RETURN(FinishedPack done, writers[t]->Finish());
        std::lock_guard lock(mutex);
        finished.push_back(std::move(done));
      }
    }
    std::lock_guard lock(mutex);
    stats.blobs_fetched += wanted.size();
    stats.bytes_fetched += pack.size();
    stats.packs_fetched++;
    ReportBytes(progress, pack.size());
    return Status::Ok();
  });
  RETURN_IF_ERROR(pulled);
  for (auto& writer : writers) {
    if (writer->empty()) continue;
    ASSIGN_OR_RETURN(FinishedPack done, writer->Finish());
    finished.push_back(std::move(done));
  }
  for (const FinishedPack& pack : finished) {
    RETURN_IF_ERROR(local.AddPack(pack.name, pack.entries, pack.index_offset));
  }
  auto exists = local.LoadSnapshot(id);
  if (!exists.ok()) RETURN_IF_ERROR(local.CommitSnapshot(manifest));
  stats.seconds = SecondsSince(start);
  return stats;
}

Result<RemoteVerifyReport> RemoteRepository::Verify() {
  RemoteVerifyReport report;
  std::mutex mutex;
  auto error = [&](std::string line) {
    std::lock_guard lock(mutex);
    report.errors.push_back(std::move(line));
  };
  // Snapshots before packs: a push commits its packs before its manifest, so every
  // manifest listed here finds its packs in the listing after it.
  auto snapshots = ListSnapshotObjects(store_);
  if (!snapshots.ok()) return snapshots.status();
  packs_.clear();
  blobs_.clear();
  auto loaded = LoadIndex();
  if (!loaded.ok()) error(loaded.message());
  std::vector<std::string> names;
  for (const auto& [name, index] : packs_) names.push_back(name);
  std::unordered_map<BlobId, std::vector<ChunkRef>, Sha256DigestHash> chunk_lists;
  // Chunk lists are decoded for the references they hold; those stored as deltas (of the
  // parent snapshot's list) after the pass, against their base.
  std::unordered_map<BlobId, std::vector<uint8_t>, Sha256DigestHash> list_contents;
  std::vector<std::pair<PackBlobEntry, std::vector<uint8_t>>> delta_lists;
  (void)ParallelFor(names.size(), kTransfers, [&](size_t p, unsigned) -> Status {
    const std::string object = PackObject(names[p]);
    auto pack = GetObject(object);
    if (!pack.ok()) {
      error(fmt::format("{}: {}", object, pack.status().message()));
      return Status::Ok();
    }
    const PackIndex& index = packs_.at(names[p]);
    if (pack->size() != index.pack_size) {
      error(fmt::format("{}: {} bytes where its index says {}", object, pack->size(),
                        index.pack_size));
      return Status::Ok();
    }
    BlobCodec codec;
    std::vector<uint8_t> content;
    uint64_t blobs = 0;
    for (const PackBlobEntry& entry : index.entries) {
      std::span<const uint8_t> stored(pack->data() + entry.offset, entry.stored_size);
      if (entry.compression == Compression::kZstdDelta) {
        if (!blobs_.count(BlobCodec::DeltaBaseId(stored))) {
          error(fmt::format("{}: blob {} is a delta of a blob no pack holds", object,
                            entry.id.Hex()));
        } else if (entry.type == BlobType::kChunkList) {
          std::lock_guard lock(mutex);
          delta_lists.emplace_back(entry, std::vector<uint8_t>(stored.begin(), stored.end()));
        }
        ++blobs;
        continue;
      }
      Status decoded = codec.Decode(entry, stored, content);
      if (!decoded.ok()) {
        error(fmt::format("{}: blob {}: {}", object, entry.id.Hex(), decoded.message()));
        continue;
      }
      ++blobs;
      if (entry.type == BlobType::kChunkList) {
        auto list = ParseChunkList(content);
        std::lock_guard lock(mutex);
        if (list.ok()) chunk_lists[entry.id] = std::move(list).value();
        list_contents[entry.id] = content;
      }
    }
    std::lock_guard lock(mutex);
    report.packs++;
    report.blobs += blobs;
    report.bytes += pack->size();
    return Status::Ok();
  });
  BlobCodec codec;
  std::vector<uint8_t> content;
  for (const auto& [entry, stored] : delta_lists) {
    auto base = list_contents.find(BlobCodec::DeltaBaseId(stored));
    Status decoded = base == list_contents.end()
                         ? Status::Corruption("its base is not a readable chunk list")
                         : codec.Decode(entry, stored, content, base->second);
    auto list = decoded.ok() ? ParseChunkList(content) : Result<std::vector<ChunkRef>>(decoded);
    if (!list.ok()) {
      error(fmt::format("{}: chunk list {}: {}", PackObject(blobs_[entry.id].first), entry.id.Hex(),
                        list.status().message()));
      continue;
    }
    chunk_lists[entry.id] = std::move(list).value();
  }
  for (const std::string& id : snapshots->manifests) {
    auto manifest = LoadManifest(id);
    if (!manifest.ok()) {
      error(manifest.status().message());
      continue;
    }
    report.snapshots++;
    if (snapshots->records.count(id)) {
      auto record = GetObject(RecordObject(id));  // sealed ones are authenticated here
      if (!record.ok()) error(fmt::format("{}: {}", RecordObject(id), record.status().message()));
    }
    // What gc keeps for the snapshot: its blob list must name all it references.
    BlobSet listed;
    auto blob_list = snapshots->blob_lists.count(id)
                         ? GetObject(BlobsObject(id))
                         : Result<std::vector<uint8_t>>(Status::NotFound("no blob list"));
    if (!blob_list.ok()) {
      error(fmt::format("{}: {}", BlobsObject(id), blob_list.status().message()));
    } else {
      for (size_t at = 0; at + 32 <= blob_list->size(); at += 32) {
        BlobId blob;
        std::memcpy(blob.bytes.data(), blob_list->data() + at, 32);
        listed.insert(blob);
      }
    }
    size_t missing = 0, unlisted = 0;
    auto check = [&](const BlobId& blob) {
      missing += !blobs_.count(blob);
      unlisted += blob_list.ok() && !listed.count(blob);
    };
    for (const TreeEntry& e : manifest->entries) {
      if (!e.chunks) continue;
      check(*e.chunks);
      auto list = chunk_lists.find(*e.chunks);
      if (list == chunk_lists.end()) {
        ++missing;
        continue;
      }
      for (const ChunkRef& c : list->second) {
        check(c.id);
        if (c.patch) check(*c.patch);
      }
    }
    if (missing > 0) {
      error(fmt::format("snapshot {}: {} referenced blobs missing or unreadable", id, missing));
    }
    if (unlisted > 0) {
      error(
          fmt::format("snapshot {}: {} referenced blobs not in its blob list (gc would free them)",
                      id, unlisted));
    }
  }
  std::sort(report.errors.begin(), report.errors.end());
  return report;
}

Status RemoteRepository::RemoveSnapshot(const std::string& id) {
  RETURN_IF_ERROR(CheckLease());
  ASSIGN_OR_RETURN(Manifest manifest, LoadManifest(id));
  RETURN_IF_ERROR(store_.Delete(ManifestObject(manifest.id)));
  RETURN_IF_ERROR(store_.Delete(BlobsObject(manifest.id)));
  return store_.Delete(RecordObject(manifest.id));
}

Result<RemoteGcReport> RemoteRepository::CollectGarbage(std::chrono::seconds grace) {
  RETURN_IF_ERROR(CheckLease());
  RemoteGcReport report;
  // Written after this (seconds since the epoch): young, left alone.
  const int64_t cutoff = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count() -
                         grace.count();
  ASSIGN_OR_RETURN(SnapshotObjects snapshots, ListSnapshotObjects(store_));
  BlobSet live;
  std::vector<std::string> orphan_lists;
  for (const auto& id : snapshots.manifests) {
    if (!snapshots.blob_lists.count(id)) {
      return Status::Corruption(
          fmt::format("{}: snapshot {} has no blob list ({}): gc would free its data", Describe(),
                      id, BlobsObject(id)),
          "push the snapshot again from a local repository that has it, or remove it");
    }
  }
  for (const auto& [id, info] : snapshots.records) {
    if (!snapshots.manifests.count(id) && info.modified_unix <= cutoff)
      orphan_lists.push_back(info.key);
  }
  for (const auto& [id, info] : snapshots.blob_lists) {
    if (!snapshots.manifests.count(id)) {
      // An interrupted push or removal, or a push under way (young): its manifest is not
      // there, so nothing reads it.
      if (info.modified_unix <= cutoff) orphan_lists.push_back(info.key);
      continue;
    }
    ASSIGN_OR_RETURN(auto list, GetObject(info.key));
    for (size_t at = 0; at + 32 <= list.size(); at += 32) {
      BlobId blob;
      std::memcpy(blob.bytes.data(), list.data() + at, 32);
      live.insert(blob);
    }
  }
  packs_.clear();
  blobs_.clear();
  RETURN_IF_ERROR(LoadIndex());
  ASSIGN_OR_RETURN(auto pack_objects, store_.List("packs/"));
  std::vector<objstore::ObjectInfo> unused, incomplete;
  for (const auto& object : pack_objects) {
    std::string_view key = AfterPrefix(object.key, "packs/");
    if (!key.ends_with(".pack")) continue;
    if (object.modified_unix > cutoff) continue;  // a push may be writing it, or its index
    auto index = packs_.find(std::string(key.substr(0, key.size() - 5)));
    if (index == packs_.end()) {
      incomplete.push_back(object);  // never made visible: an interrupted push
      continue;
    }
    bool used = std::any_of(index->second.entries.begin(), index->second.entries.end(),
                            [&](const PackBlobEntry& e) { return live.count(e.id) > 0; });
    if (!used) unused.push_back(object);
  }
  // A snapshot committed meanwhile may reference what was judged unused: start over.
  ASSIGN_OR_RETURN(SnapshotObjects again, ListSnapshotObjects(store_));
  if (!(again == snapshots)) {
    return Status::Busy(fmt::format("{}: snapshots changed while gc ran", Describe()),
                        "run gc again (a push or removal ran beside it)");
  }
  RETURN_IF_ERROR(CheckLease());
  for (const auto& key : orphan_lists) RETURN_IF_ERROR(store_.Delete(key));
  for (const auto& object : incomplete) {
    RETURN_IF_ERROR(store_.Delete(object.key));
    report.incomplete_packs_deleted++;
    report.bytes_freed += object.size;
  }
  for (const auto& object : unused) {
    std::string name(AfterPrefix(object.key, "packs/"));
    name.resize(name.size() - 5);
    // The index first: without it the pack is invisible, and a crash here leaves a pack
    // the next gc deletes as incomplete.
    RETURN_IF_ERROR(store_.Delete(IndexObject(name)));
    RETURN_IF_ERROR(store_.Delete(object.key));
    report.packs_deleted++;
    report.bytes_freed += object.size;
  }
  packs_.clear();
  blobs_.clear();
  return report;
}

Result<WalCopyStats> RemoteRepository::PushWal(const std::string& local_repo_path,
                                               const std::string& archive_id) {
  return PushWal(local_repo_path, archive_id, "");
}

Result<uint64_t> RemoteRepository::RemoveWalBefore(const std::string& archive_id,
                                                   const std::string& position) {
  RETURN_IF_ERROR(ValidateArchiveId(archive_id));
  RETURN_IF_ERROR(CheckLease());
  const std::string prefix = "wal/" + archive_id + "/";
  ASSIGN_OR_RETURN(auto objects, store_.List(prefix));
  uint64_t removed = 0;
  for (const auto& object : objects) {
    auto name = ParseWalFileName(AfterPrefix(object.key, prefix));
    if (!name.ok() || name->kind == WalFileName::Kind::kHistory || name->position >= position)
      continue;
    RETURN_IF_ERROR(store_.Delete(object.key));
    ++removed;
  }
  return removed;
}

Result<WalCopyStats> RemoteRepository::PushWal(const std::string& local_repo_path,
                                               const std::string& archive_id,
                                               const std::string& from_position) {
  RETURN_IF_ERROR(ValidateArchiveId(archive_id));
  RETURN_IF_ERROR(CheckLease());
  ASSIGN_OR_RETURN(WalArchive archive, WalArchive::Open(local_repo_path, archive_id));
  ASSIGN_OR_RETURN(auto local_files, archive.List());
  ASSIGN_OR_RETURN(auto remote_files, store_.List("wal/" + archive_id + "/"));
  std::unordered_set<std::string> there;
  for (const auto& object : remote_files) there.insert(object.key);
  std::vector<std::string> missing;
  for (const auto& file : local_files) {
    bool needed =
        file.parsed.kind == WalFileName::Kind::kHistory || file.parsed.position >= from_position;
    if (needed && !there.count(WalObject(archive_id, file.name))) missing.push_back(file.name);
  }
  WalCopyStats stats;
  std::mutex mutex;
  RETURN_IF_ERROR(ParallelFor(missing.size(), kTransfers, [&](size_t i, unsigned) -> Status {
    ASSIGN_OR_RETURN(auto stored, archive.ReadStored(missing[i]));
    RETURN_IF_ERROR(PutObject(WalObject(archive_id, missing[i]), stored));
    std::lock_guard lock(mutex);
    stats.files++;
    stats.bytes += stored.size();
    return Status::Ok();
  }));
  return stats;
}

Result<WalCopyStats> RemoteRepository::PullWal(const std::string& archive_id,
                                               const std::string& local_repo_path) {
  RETURN_IF_ERROR(ValidateArchiveId(archive_id));
  std::string prefix = "wal/" + archive_id + "/";
  ASSIGN_OR_RETURN(auto remote_files, store_.List(prefix));
  RETURN_IF_ERROR(WalArchive::Create(local_repo_path, archive_id));
  ASSIGN_OR_RETURN(WalArchive archive, WalArchive::Open(local_repo_path, archive_id));
  ASSIGN_OR_RETURN(auto local_files, archive.List());
  std::unordered_set<std::string> here;
  for (const auto& file : local_files) here.insert(file.name);
  std::vector<std::string> missing;
  for (const auto& object : remote_files) {
    std::string name = object.key.substr(prefix.size());
    if (here.count(name)) continue;
    if (!ParseWalFileName(name).ok()) {
      return Status::Corruption(
          fmt::format("{}: '{}' is not a WAL file's name", Describe(), object.key));
    }
    missing.push_back(std::move(name));
  }
  WalCopyStats stats;
  std::mutex mutex;
  RETURN_IF_ERROR(ParallelFor(missing.size(), kTransfers, [&](size_t i, unsigned) -> Status {
    ASSIGN_OR_RETURN(auto stored, GetObject(WalObject(archive_id, missing[i])));
    Status kept = archive.StoreEncoded(stored, missing[i]);
    if (!kept.ok())
      return kept.WithContext(fmt::format("{}: {}", Describe(), WalObject(archive_id, missing[i])));
    std::lock_guard lock(mutex);
    stats.files++;
    stats.bytes += stored.size();
    return Status::Ok();
  }));
  return stats;
}

Result<uint64_t> RemoteRepository::RemoveWalArchive(const std::string& archive_id) {
  RETURN_IF_ERROR(CheckLease());
  RETURN_IF_ERROR(ValidateArchiveId(archive_id));
  ASSIGN_OR_RETURN(auto objects, store_.List("wal/" + archive_id + "/"));
  for (const auto& object : objects) RETURN_IF_ERROR(store_.Delete(object.key));
  return static_cast<uint64_t>(objects.size());
}

Result<std::vector<std::string>> RemoteRepository::ListWalArchives() {
  ASSIGN_OR_RETURN(auto objects, store_.List("wal/"));
  std::vector<std::string> ids;
  for (const auto& object : objects) {
    std::string_view key = std::string_view(object.key).substr(4);
    std::string id(key.substr(0, key.find('/')));
    if ((ids.empty() || ids.back() != id) && ValidateArchiveId(id).ok()) ids.push_back(id);
  }
  return ids;
}

Status RemoteRepository::RotateKey(const RemoteKeySpec& new_key) {
  RETURN_IF_ERROR(CheckLease());
  if (!data_key_ || new_key.kind == RemoteKeySpec::Kind::kNone) {
    return Status::FailedPrecondition(fmt::format(
        "{}: only an encrypted repository is re-keyed, and only to another key", Describe()));
  }
  json config = json::parse(config_json_);
  ASSIGN_OR_RETURN(config["encryption"], EncryptionConfig(new_key, *data_key_));
  std::string text = config.dump(2) + "\n";
  RETURN_IF_ERROR(store_.Put("config.json", AsBytes(text)));
  config_json_ = std::move(text);
  return Status::Ok();
}

}  // namespace dbaas::storage
