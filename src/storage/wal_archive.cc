#include "storage/wal_archive.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <zstd.h>

#include "base/files.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/names.h"
#include "base/sha256.h"
#include "storage/byte_codec.h"
#include "storage/manifest.h"
#include "storage/reflink.h"

namespace dbaas::storage {
namespace {

constexpr char kMagic[8] = {'D', 'B', 'W', 'A', 'L', '0', '0', '1'};
constexpr size_t kHeaderSize = 8 + 8 + 32;
// PostgreSQL's largest WAL segment is 1 GiB; history files are small. A binlog holds at
// least one whole transaction: one larger than 1 GiB cannot be archived.
constexpr uint64_t kMaxRawSize = kMaxArchivedFileBytes;
constexpr const char* kSummaryDir = "summaries";
// A summary lists blocks a segment's records touch: at most a few per record.
constexpr size_t kMaxSummarySize = 64 << 20;

bool IsUpperHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); });
}

struct Header {
  uint64_t raw_size = 0;
  Sha256Digest sha;
};

void EncodeHeader(const Header& h, uint8_t* out) {
  std::memcpy(out, kMagic, 8);
  StoreLe<uint64_t>(out + 8, h.raw_size);
  std::memcpy(out + 16, h.sha.bytes.data(), 32);
}

Result<Header> DecodeHeader(std::span<const uint8_t> data, const std::string& path) {
  if (data.size() < kHeaderSize || std::memcmp(data.data(), kMagic, 8) != 0) {
    return Status::Corruption(fmt::format("'{}' is not an archived WAL file (bad header)", path));
  }
  Header h;
  h.raw_size = GetLe<uint64_t>(data.data() + 8);
  std::memcpy(h.sha.bytes.data(), data.data() + 16, 32);
  if (h.raw_size > kMaxRawSize) {
    return Status::Corruption(fmt::format("'{}': raw size {} is impossible", path, h.raw_size));
  }
  return h;
}

// A byte buffer left uninitialized: a 16 MiB segment read or compressed into a
// zero-filled vector costs as much in page clearing as the hashing does.
struct Bytes {
  std::unique_ptr<uint8_t[]> data;
  size_t size = 0;
  explicit Bytes(size_t n) : data(new uint8_t[n]), size(n) {}
  std::span<const uint8_t> span() const { return {data.get(), size}; }
};

// Reads an archived file whole (OpenFile follows no link).
Result<Bytes> ReadWhole(const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY | O_NOFOLLOW));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat", path, errno);
  if (static_cast<uint64_t>(st.st_size) > kMaxRawSize + (kMaxRawSize >> 4)) {
    return Status::InvalidArgument(fmt::format("'{}' is too large for a WAL file", path));
  }
  Bytes data(static_cast<size_t>(st.st_size));
  ASSIGN_OR_RETURN(data.size, PreadFull(fd.get(), data.data.get(), data.size, 0, path));
  return data;
}

// The header of an archived file, or nullopt if there is none of that name.
Result<std::optional<Header>> ReadArchivedHeader(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<Header>();
    return ErrnoStatus("open", path, errno);
  }
  uint8_t buf[kHeaderSize];
  ASSIGN_OR_RETURN(size_t n, PreadFull(fd.get(), buf, sizeof buf, 0, path));
  ASSIGN_OR_RETURN(Header h, DecodeHeader(std::span<const uint8_t>(buf, n), path));
  return std::optional<Header>(h);
}

// A name already archived: the same content is success (PostgreSQL re-archives after a
// crash), other content is an error an operator must look at.
Status CompareExisting(const Header& existing, const Header& ours, const std::string& name,
                       const std::string& dir) {
  if (existing.raw_size == ours.raw_size && existing.sha == ours.sha) return Status::Ok();
  return Status::AlreadyExists(
      fmt::format("WAL archive {} already holds a different '{}' ({} bytes, sha256 {}; this "
                  "one: {} bytes, sha256 {})",
                  dir, name, existing.raw_size, existing.sha.Hex().substr(0, 16), ours.raw_size,
                  ours.sha.Hex().substr(0, 16)),
      "two servers archive into one archive id, or the archive was altered; keep both copies "
      "and check which server wrote this one");
}

// Writes an encoded WAL file durably under its name, never replacing one: what is there
// already must have the same content.
Status WriteStored(const std::string& dir, std::span<const uint8_t> stored, const Header& header,
                   const std::string& name) {
  std::string final_path = JoinPath(dir, name);
  std::string tmp = JoinPath(dir, fmt::format(".tmp.{}.{}", name, RandomHex(6)));
  {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600));
    Status st = WriteAll(fd.get(), stored, tmp);
    if (st.ok()) st = SyncFile(fd.get(), tmp);
    if (!st.ok()) {
      ::unlink(tmp.c_str());
      return st;
    }
  }
  // link() never replaces: if a concurrent push of the same name won, compare with it.
  Status linked = LinkPath(tmp, final_path);
  WarnIfError(UnlinkPath(tmp), "remove the temporary name of an archived WAL file");
  if (!linked.ok()) {
    if (linked.code() != StatusCode::kAlreadyExists) return linked;
    ASSIGN_OR_RETURN(std::optional<Header> existing, ReadArchivedHeader(final_path));
    if (existing) return CompareExisting(*existing, header, name, dir);
    return Status::IoError(fmt::format("'{}' vanished while archiving it", final_path));
  }
  return FsyncDir(dir);
}

}  // namespace

Result<WalFileName> ParseWalFileName(std::string_view name) {
  WalFileName out;
  auto bad = [&] {
    return Status::InvalidArgument(fmt::format("'{}' is not a WAL file name", name));
  };
  auto timeline = [&](std::string_view hex) {
    return static_cast<uint32_t>(std::stoul(std::string(hex), nullptr, 16));
  };
  if (name.size() == 16 && name.substr(8) == ".history" && IsUpperHex(name.substr(0, 8))) {
    out.kind = WalFileName::Kind::kHistory;
    out.timeline = timeline(name.substr(0, 8));
    return out;
  }
  if (name.starts_with("binlog.")) {
    std::string_view digits = name.substr(7);
    if (digits.size() < 6 || digits.size() > 10 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return bad();
    }
    out.kind = WalFileName::Kind::kBinlog;
    out.position = std::string(16 - digits.size(), '0') + std::string(digits);
    return out;
  }
  if (name.size() < 24 || !IsUpperHex(name.substr(0, 24))) return bad();
  out.timeline = timeline(name.substr(0, 8));
  out.position = std::string(name.substr(8, 16));
  std::string_view rest = name.substr(24);
  if (rest.empty()) {
    out.kind = WalFileName::Kind::kSegment;
  } else if (rest == ".partial") {
    out.kind = WalFileName::Kind::kPartial;
  } else if (rest.size() == 16 && rest[0] == '.' && IsUpperHex(rest.substr(1, 8)) &&
             rest.substr(9) == ".backup") {
    out.kind = WalFileName::Kind::kBackupLabel;
  } else {
    return bad();
  }
  if (out.timeline == 0) return bad();
  return out;
}

std::string WalArchiveDir(const std::string& repo_path, const std::string& id) {
  return JoinPath(JoinPath(repo_path, "wal"), id);
}

Status ValidateArchiveId(std::string_view id) {
  size_t dot = id.rfind('.');
  size_t digits = dot == std::string_view::npos ? 0 : id.size() - dot - 1;
  bool ok = dot != std::string_view::npos && IsDns1123Label(id.substr(0, dot)) && digits >= 4 &&
            digits <= 16 &&
            id.substr(dot + 1).find_first_not_of("0123456789abcdef") == std::string_view::npos;
  if (ok) return Status::Ok();
  return Status::InvalidArgument(fmt::format("'{}' is not a WAL archive id", id),
                                 "an archive id is <instance>.<hex digits>, as 'wal/' lists them");
}

Status WalArchive::Create(const std::string& repo_path, const std::string& id) {
  RETURN_IF_ERROR(ValidateArchiveId(id));
  std::string wal = JoinPath(repo_path, "wal");
  RETURN_IF_ERROR(MakeDirs(wal, 0700));
  std::string dir = WalArchiveDir(repo_path, id);
  if (Status made = MakeDir(dir, 0700); !made.ok() && made.code() != StatusCode::kAlreadyExists) {
    return made;
  }
  return FsyncDir(wal);
}

Result<WalArchive> WalArchive::Open(const std::string& repo_path, const std::string& id) {
  RETURN_IF_ERROR(ValidateArchiveId(id));
  std::string dir = WalArchiveDir(repo_path, id);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return Status::NotFound(fmt::format("WAL archive '{}' not found in {}", id, repo_path));
    }
    return ErrnoStatus("stat", dir, errno);
  }
  return WalArchive(dir);
}

Result<std::vector<std::string>> WalArchive::ListIds(const std::string& repo_path) {
  std::vector<std::string> ids;
  std::string wal = JoinPath(repo_path, "wal");
  DIR* d = ::opendir(wal.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return ids;
    return ErrnoStatus("opendir", wal, errno);
  }
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ids.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(ids.begin(), ids.end());
  return ids;
}

Status WalArchive::Remove(const std::string& repo_path, const std::string& id) {
  return RemoveTree(WalArchiveDir(repo_path, id));
}

Status WalArchive::Store(std::span<const uint8_t> raw, const std::string& name,
                         int compression_level) const {
  RETURN_IF_ERROR(ParseWalFileName(name).status());
  if (raw.size() > kMaxRawSize) {
    return Status::InvalidArgument(
        fmt::format("'{}' has {} bytes: too large for a WAL file", name, raw.size()));
  }
  Header ours{raw.size(), Sha256(raw)};
  ASSIGN_OR_RETURN(std::optional<Header> existing, ReadArchivedHeader(JoinPath(dir_, name)));
  if (existing) return CompareExisting(*existing, ours, name, dir_);

  Bytes out(kHeaderSize + ZSTD_compressBound(raw.size()));
  EncodeHeader(ours, out.data.get());
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, compression_level);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1);  // what a scan checks
  size_t n = ZSTD_compress2(cctx.get(), out.data.get() + kHeaderSize, out.size - kHeaderSize,
                            raw.data(), raw.size());
  if (ZSTD_isError(n)) {
    return Status::Internal(fmt::format("zstd compression of {}: {}", name, ZSTD_getErrorName(n)));
  }
  out.size = kHeaderSize + n;
  return WriteStored(dir_, out.span(), ours, name);
}

Status WalArchive::StoreEncoded(std::span<const uint8_t> stored, const std::string& name) const {
  RETURN_IF_ERROR(ParseWalFileName(name).status());
  ASSIGN_OR_RETURN(Header h, DecodeHeader(stored, name));
  std::vector<uint8_t> raw(h.raw_size);
  std::span<const uint8_t> frame = stored.subspan(kHeaderSize);
  size_t n = ZSTD_decompress(raw.data(), raw.size(), frame.data(), frame.size());
  if (ZSTD_isError(n) || n != h.raw_size || Sha256(raw) != h.sha) {
    return Status::Corruption(fmt::format(
        "WAL file '{}' to store is damaged (content does not match its checksum)", name));
  }
  ASSIGN_OR_RETURN(std::optional<Header> existing, ReadArchivedHeader(JoinPath(dir_, name)));
  if (existing) return CompareExisting(*existing, h, name, dir_);
  return WriteStored(dir_, stored, h, name);
}

Result<std::vector<uint8_t>> WalArchive::ReadStored(const std::string& name) const {
  RETURN_IF_ERROR(ParseWalFileName(name).status());
  std::string path = JoinPath(dir_, name);
  if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
    return Status::NotFound(fmt::format("'{}' is not in WAL archive {}", name, dir_));
  }
  ASSIGN_OR_RETURN(Bytes stored, ReadWhole(path));
  auto bytes = stored.span();
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

Result<std::vector<uint8_t>> WalArchive::Read(const std::string& name, BlobCheck check) const {
  std::vector<uint8_t> raw;
  RETURN_IF_ERROR(Read(name, check, raw));
  return raw;
}

Status WalArchive::Read(const std::string& name, BlobCheck check, std::vector<uint8_t>& raw) const {
  RETURN_IF_ERROR(ParseWalFileName(name).status());
  std::string path = JoinPath(dir_, name);
  if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
    return Status::NotFound(fmt::format("'{}' is not in WAL archive {}", name, dir_));
  }
  ASSIGN_OR_RETURN(Bytes stored, ReadWhole(path));
  ASSIGN_OR_RETURN(Header h, DecodeHeader(stored.span(), path));
  raw.resize(h.raw_size);
  std::span<const uint8_t> frame = stored.span().subspan(kHeaderSize);
  size_t n = ZSTD_decompress(raw.data(), raw.size(), frame.data(), frame.size());
  bool by_frame = check == BlobCheck::kFrameChecksum && FrameHasChecksum(frame);
  if (ZSTD_isError(n) || n != h.raw_size || (!by_frame && Sha256(raw) != h.sha)) {
    return Status::Corruption(
        fmt::format("archived WAL file '{}' is damaged (content does not match its checksum)",
                    path),
        "restore to a target before this file, or from a copy of the repository");
  }
  return Status::Ok();
}

Status WalArchive::Fetch(const std::string& name, const std::string& dest_path) const {
  ASSIGN_OR_RETURN(std::vector<uint8_t> raw, Read(name));
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(dest_path, O_WRONLY | O_CREAT | O_TRUNC, 0600));
  return WriteAll(fd.get(), raw, dest_path);
}

Result<uint64_t> WalArchive::RawSize(const std::string& name) const {
  RETURN_IF_ERROR(ParseWalFileName(name).status());
  ASSIGN_OR_RETURN(std::optional<Header> h, ReadArchivedHeader(JoinPath(dir_, name)));
  if (!h) return Status::NotFound(fmt::format("'{}' is not in WAL archive {}", name, dir_));
  return h->raw_size;
}

Result<std::optional<Sha256Digest>> WalArchive::ContentSha256(const std::string& name) const {
  RETURN_IF_ERROR(ParseWalFileName(name).status());
  ASSIGN_OR_RETURN(std::optional<Header> h, ReadArchivedHeader(JoinPath(dir_, name)));
  if (!h) return std::optional<Sha256Digest>();
  return std::optional<Sha256Digest>(h->sha);
}

// Summaries are named as their segments, which ParseWalFileName has vouched for.
Status WalArchive::StoreSummary(const std::string& segment, std::span<const uint8_t> bytes) const {
  ASSIGN_OR_RETURN(WalFileName parsed, ParseWalFileName(segment));
  if (parsed.kind != WalFileName::Kind::kSegment) {
    return Status::InvalidArgument(fmt::format("'{}' is not a WAL segment's name", segment));
  }
  std::string dir = JoinPath(dir_, kSummaryDir);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoStatus("mkdir", dir, errno);
  return WriteFileAtomic(JoinPath(dir, segment),
                         {reinterpret_cast<const char*>(bytes.data()), bytes.size()}, 0600);
}

Result<std::optional<std::vector<uint8_t>>> WalArchive::ReadSummary(
    const std::string& segment) const {
  RETURN_IF_ERROR(ParseWalFileName(segment).status());
  auto text = ReadFileToString(JoinPath(JoinPath(dir_, kSummaryDir), segment), kMaxSummarySize);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return std::optional<std::vector<uint8_t>>();
    }
    return text.status();
  }
  return std::optional<std::vector<uint8_t>>(std::in_place, text->begin(), text->end());
}

bool WalArchive::HasSummary(const std::string& segment) const {
  if (!ParseWalFileName(segment).ok()) return false;
  std::string path = JoinPath(JoinPath(dir_, kSummaryDir), segment);
  return ::access(path.c_str(), F_OK) == 0;
}

Result<std::vector<WalFileInfo>> WalArchive::List() const {
  std::vector<WalFileInfo> files;
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return ErrnoStatus("opendir", dir_, errno);
  while (dirent* e = ::readdir(d)) {
    auto parsed = ParseWalFileName(e->d_name);
    if (!parsed.ok()) continue;  // ".", "..", temporary files of pushers
    struct stat st;
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // removed
    if (!S_ISREG(st.st_mode)) continue;  // no pusher makes anything else: not archived WAL
    files.push_back(WalFileInfo{e->d_name, std::move(parsed.value()),
                                static_cast<uint64_t>(st.st_size), st.st_mtime});
  }
  ::closedir(d);
  std::sort(files.begin(), files.end(),
            [](const WalFileInfo& a, const WalFileInfo& b) { return a.name < b.name; });
  return files;
}

Result<uint64_t> WalArchive::CopyInto(const WalArchive& dest,
                                      std::string_view from_position) const {
  ASSIGN_OR_RETURN(std::vector<WalFileInfo> files, List());
  uint64_t copied = 0;
  for (const WalFileInfo& f : files) {
    if (f.parsed.kind != WalFileName::Kind::kHistory && f.parsed.position < from_position) continue;
    std::string from = JoinPath(dir_, f.name);
    std::string to = JoinPath(dest.dir_, f.name);
    ASSIGN_OR_RETURN(UniqueFd in, OpenFile(from, O_RDONLY));
    struct stat st;
    if (::fstat(in.get(), &st) != 0) return ErrnoStatus("stat", from, errno);
    // Not synced: a copy for one recovery, remade if that recovery is tried again.
    ASSIGN_OR_RETURN(UniqueFd out, OpenFile(to, O_WRONLY | O_CREAT | O_EXCL, 0600));
    RETURN_IF_ERROR(CopyFileContents(in.get(), out.get(), static_cast<uint64_t>(st.st_size), to));
    ++copied;
  }
  return copied;
}

// Summaries go with their segments, and any whose segment went some other way with them, and
// what a writer cut short left (WriteFileAtomic's "NAME.tmp-RANDOM").
Status WalArchive::RemoveSummariesBefore(std::string_view position) const {
  const std::string dir = JoinPath(dir_, kSummaryDir);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return errno == ENOENT ? Status::Ok() : ErrnoStatus("opendir", dir, errno);
  std::vector<std::string> old;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    auto parsed = ParseWalFileName(name.substr(0, name.find(".tmp-")));
    if (parsed.ok() && parsed->kind == WalFileName::Kind::kSegment && parsed->position < position) {
      old.emplace_back(name);
    }
  }
  ::closedir(d);
  for (const std::string& name : old) {
    Status st = UnlinkPath(JoinPath(dir, name));
    if (!st.ok() && st.code() != StatusCode::kNotFound) return st;
  }
  return old.empty() ? Status::Ok() : FsyncDir(dir);
}

Result<uint64_t> WalArchive::RemoveBefore(std::string_view position) const {
  ASSIGN_OR_RETURN(std::vector<WalFileInfo> files, List());
  uint64_t removed = 0;
  for (const WalFileInfo& f : files) {
    if (f.parsed.kind == WalFileName::Kind::kHistory || f.parsed.position >= position) continue;
    std::string path = JoinPath(dir_, f.name);
    if (Status st = UnlinkPath(path); !st.ok() && st.code() != StatusCode::kNotFound) return st;
    ++removed;
  }
  if (removed > 0) RETURN_IF_ERROR(FsyncDir(dir_));
  RETURN_IF_ERROR(RemoveSummariesBefore(position));
  return removed;
}

Status RecordArchivingFailure(const std::string& status_path, const std::string& message) {
  std::string line = FormatUnixTime(static_cast<int64_t>(::time(nullptr)) * 1000000000) + " ";
  for (char c : message) line += (c == '\n' || c == '\r') ? ' ' : c;
  return WriteFileAtomic(status_path, line + "\n", 0600);
}

Status ClearArchivingFailure(const std::string& status_path) {
  if (::unlink(status_path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus("unlink", status_path, errno);
  }
  return Status::Ok();
}

std::optional<std::string> ReadArchivingFailure(const std::string& status_path) {
  auto text = ReadFileToString(status_path, 64 << 10);
  if (!text.ok()) return std::nullopt;
  std::string line = text.value();
  while (!line.empty() && line.back() == '\n') line.pop_back();
  if (line.empty()) return std::nullopt;
  return line;
}

}  // namespace dbaas::storage
