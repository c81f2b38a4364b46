// A repository kept in an object store (S3), holding copies of a local repository's
// snapshots: the same blobs and manifests, in objects that are written once and, when the
// repository is encrypted, sealed client-side (objstore/object_cipher.h). Layout and
// commit rule in docs/formats/remote.md:
//
//   config.json                 format, id, encryption (the wrapped data key)
//   lease.json                  which writer may write and collect garbage
//   packs/<name>.pack           a pack, as a local repository writes them
//   packs/<name>.index          its index: the pack is complete when this exists
//   snapshots/<id>.blobs        every blob the snapshot references (for gc)
//   snapshots/<id>.record       the backup's record, as its daemon's catalog kept it
//   snapshots/<id>.manifest     written last: the snapshot exists when this does
//   wal/<archive-id>/<file>     archived WAL files, as the local archive stores them
//
// An object store has no rename: a snapshot is committed by writing its manifest after
// everything it references, and a pack is visible by writing its index after it. A writer
// that dies mid-push leaves packs that no manifest references, which gc removes.
//
// Copies go between a local repository and this one without decoding a blob: the stored
// bytes (compressed, delta-encoded) move as they are.
//
// Thread-safety: one operation at a time per object.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "objstore/object_cipher.h"
#include "objstore/object_store.h"
#include "storage/manifest.h"
#include "storage/progress.h"
#include "storage/repository.h"

namespace dbaas::storage {

// How a remote repository's data key is protected.
struct RemoteKeySpec {
  enum class Kind { kNone, kKeyFile, kPassphraseFile };
  Kind kind = Kind::kNone;
  std::string path;  // the 0600 file holding the key or the passphrase
};

struct PushStats {
  uint64_t blobs = 0;       // blobs the snapshot references
  uint64_t blobs_sent = 0;  // of which the remote lacked
  uint64_t bytes_sent = 0;  // object bytes written (sealed size when encrypted)
  uint64_t packs_sent = 0;
  bool already_there = false;  // the snapshot was in the remote repository before
  double seconds = 0;
};

struct PullStats {
  uint64_t blobs = 0;
  uint64_t blobs_fetched = 0;
  uint64_t bytes_fetched = 0;
  uint64_t packs_fetched = 0;
  double seconds = 0;
};

struct WalCopyStats {
  uint64_t files = 0;  // files copied (those the other side lacked)
  uint64_t bytes = 0;
};

struct RemoteVerifyReport {
  uint64_t packs = 0;
  uint64_t blobs = 0;
  uint64_t snapshots = 0;
  uint64_t bytes = 0;
  std::vector<std::string> errors;  // one line each, naming the object
  bool ok() const { return errors.empty(); }
};

struct RemoteGcReport {
  uint64_t packs_deleted = 0;
  uint64_t bytes_freed = 0;
  uint64_t incomplete_packs_deleted = 0;  // packs without an index (an interrupted push)
};

class RemoteRepository {
 public:
  // Makes a new remote repository in `store` (kAlreadyExists if one is there).
  static Status Init(objstore::ObjectStore& store, const RemoteKeySpec& key);
  // Opens one; an encrypted repository needs its key (kFailedPrecondition without it,
  // kCorruption naming config.json with another one).
  static Result<std::unique_ptr<RemoteRepository>> Open(objstore::ObjectStore& store,
                                                        const RemoteKeySpec& key);

  const std::string& id() const { return id_; }
  bool encrypted() const { return data_key_.has_value(); }
  std::string Describe() const { return store_.Describe(); }

  // Takes the writer's lease for `owner` (a stable id of the writing daemon). Another
  // owner's lease is refused unless `take_over`: two daemons must never push or collect
  // garbage in one bucket at once; a disaster-recovery host takes over explicitly.
  Status AcquireLease(const std::string& owner, const std::string& host, bool take_over);

  // Copies snapshot `id` of `local` here (its blobs the remote lacks, then its manifest).
  // A non-empty `record` (the daemon's description of the backup, opaque here) is kept
  // beside it, written before the manifest; pushed again, the snapshot's record is written
  // anew (an earlier build pushed none; the backup changed).
  Result<PushStats> Push(const Repository& local, const std::string& id,
                         Progress* progress = nullptr, std::span<const uint8_t> record = {});
  // Writes the record of snapshot `id`, which is here (kNotFound otherwise), anew.
  Status WriteRecord(const std::string& id, std::span<const uint8_t> record);
  // The record pushed with snapshot `id`; nullopt when it was pushed without one.
  Result<std::optional<std::vector<uint8_t>>> ReadRecord(const std::string& id);
  // Manifests' headers (no entries), newest first.
  Result<std::vector<Manifest>> ListSnapshots();
  // By full id, unique prefix or name, as Repository::FindSnapshot.
  Result<Manifest> FindSnapshot(std::string_view ref);
  // Copies snapshot `id` into `local` (whose writer lock the caller holds): the blobs it
  // lacks, then the manifest under the same id. Then it restores as any local snapshot.
  Result<PullStats> Pull(const std::string& id, Repository& local, Progress* progress = nullptr);
  // Reads every object: packs against their index and each blob against its id, every
  // snapshot's references. Reports all it finds.
  Result<RemoteVerifyReport> Verify();
  // Unlists a snapshot; gc frees what it alone referenced.
  Status RemoveSnapshot(const std::string& id);
  // Deletes packs no snapshot references, packs left without an index and blob lists
  // without a manifest, leaving alone what was written within `grace` (a push in progress,
  // perhaps by another process). kBusy when snapshots changed while it ran (run it again);
  // kCorruption when a manifest has no blob list (its data would be freed).
  Result<RemoteGcReport> CollectGarbage(std::chrono::seconds grace = std::chrono::hours(1));
  // Copies the WAL files of archive `archive_id` (<instance>.<8 hex>) of the local
  // repository at `local_repo_path` that this one lacks, as they are stored (sealed when
  // encrypted). An archive only gains names, and a name never changes content, so a name
  // present here is that file.
  Result<WalCopyStats> PushWal(const std::string& local_repo_path, const std::string& archive_id);
  // Only the files from `from_position` on (WalFileName::position; history files always):
  // what is before it is no longer needed here (RemoveWalBefore).
  Result<WalCopyStats> PushWal(const std::string& local_repo_path, const std::string& archive_id,
                               const std::string& from_position);
  // Deletes the files of WAL archive `archive_id` here that are before `position` (history
  // files stay); returns how many went.
  Result<uint64_t> RemoveWalBefore(const std::string& archive_id, const std::string& position);
  // The other way: the files of the archive here that the local one lacks, each checked
  // against its checksum before it is stored; the local archive is made if need be.
  Result<WalCopyStats> PullWal(const std::string& archive_id, const std::string& local_repo_path);
  // The WAL archives here.
  Result<std::vector<std::string>> ListWalArchives();
  // Deletes WAL archive `archive_id` from the bucket; returns how many files went (none
  // there is fine).
  Result<uint64_t> RemoveWalArchive(const std::string& archive_id);
  // Re-wraps the data key under another key-encryption key; no data object is rewritten.
  Status RotateKey(const RemoteKeySpec& new_key);

 private:
  struct PackIndex {
    uint64_t pack_size = 0;
    std::vector<PackBlobEntry> entries;
  };
  RemoteRepository(objstore::ObjectStore& store, std::string id,
                   std::optional<objstore::Key256> data_key, std::string config_json);

  std::vector<uint8_t> Encode(std::string_view name, std::span<const uint8_t> plain) const;
  Result<std::vector<uint8_t>> Decode(std::string_view name, std::vector<uint8_t> stored) const;
  Status PutObject(const std::string& name, std::span<const uint8_t> plain);
  Result<std::vector<uint8_t>> GetObject(const std::string& name);
  // The lease is ours, still (re-read from the store).
  Status CheckLease();
  // Reads the index of every complete pack not read before.
  Status LoadIndex();
  Result<Manifest> LoadManifest(const std::string& id);

  objstore::ObjectStore& store_;
  std::string id_;
  std::optional<objstore::Key256> data_key_;
  std::string config_json_;
  std::string lease_owner_;                 // set once AcquireLease succeeded
  std::map<std::string, PackIndex> packs_;  // by pack name
  std::unordered_map<BlobId, std::pair<std::string, PackBlobEntry>, Sha256DigestHash> blobs_;
};

}  // namespace dbaas::storage
