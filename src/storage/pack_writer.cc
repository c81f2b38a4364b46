#include "storage/pack_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include "base/hex.h"

namespace dbaas::storage {
namespace {
constexpr size_t kWriteBufferSize = 1 << 20;
}

std::string PackPath(const std::string& repo_path, const std::string& name) {
  return JoinPath(JoinPath(JoinPath(repo_path, "packs"), name.substr(0, 2)), name + ".pack");
}

PackWriter::PackWriter(std::string repo_path) : repo_path_(std::move(repo_path)) {}

PackWriter::~PackWriter() {
  if (fd_.valid()) {
    fd_.Reset();
    ::unlink(tmp_path_.c_str());
  }
}

Status PackWriter::Open() {
  tmp_path_ = JoinPath(JoinPath(repo_path_, "tmp"), RandomHex(16) + ".pack.tmp");
  ASSIGN_OR_RETURN(fd_, OpenFile(tmp_path_, O_WRONLY | O_CREAT | O_EXCL, 0600));
  buffer_.reserve(kWriteBufferSize);
  buffer_.assign(kPackHeaderMagic.begin(), kPackHeaderMagic.end());
  offset_ = kPackHeaderSize;
  return Status::Ok();
}

Status PackWriter::Flush() {
  RETURN_IF_ERROR(WriteAll(fd_.get(), buffer_, tmp_path_));
  buffer_.clear();
  return Status::Ok();
}

Status PackWriter::Add(PackBlobEntry entry, std::span<const uint8_t> stored) {
  if (!fd_.valid()) RETURN_IF_ERROR(Open());
  entry.offset = offset_;
  entry.stored_size = static_cast<uint32_t>(stored.size());
  if (buffer_.size() + stored.size() > kWriteBufferSize) RETURN_IF_ERROR(Flush());
  if (stored.size() >= kWriteBufferSize) {
    RETURN_IF_ERROR(WriteAll(fd_.get(), stored, tmp_path_));
  } else {
    buffer_.insert(buffer_.end(), stored.begin(), stored.end());
  }
  offset_ += stored.size();
  entries_.push_back(entry);
  return Status::Ok();
}

Result<FinishedPack> PackWriter::Finish() {
  if (!fd_.valid()) return Status::Internal("finishing a pack that has no blobs");
  // The tail is written after the buffer rather than into it: appended, it grew the buffer
  // past its size for every pack.
  std::string tail = EncodePackTail(entries_, offset_);
  RETURN_IF_ERROR(Flush());
  RETURN_IF_ERROR(WriteAll(fd_.get(), tail, tmp_path_));
  RETURN_IF_ERROR(SyncFile(fd_.get(), tmp_path_));
  fd_.Reset();
  // The name is random: two writers never collide, and a pack's content is already
  // verified blob by blob through the blob ids.
  std::string name = RandomHex(16);
  std::string final_path = PackPath(repo_path_, name);
  if (Status st = RenamePath(tmp_path_, final_path); !st.ok()) {
    ::unlink(tmp_path_.c_str());
    return st;
  }
  RETURN_IF_ERROR(FsyncDir(DirName(final_path)));
  // The entries are copied out, and the writer's array kept for the next pack: moved out,
  // it grew again by doubling in every pack (blocks of 128 KiB to 512 KiB that malloc keeps
  // in its heap once freed: a backup's memory grew with its pack count).
  FinishedPack done{std::move(name), entries_, offset_, offset_ + tail.size()};
  entries_.clear();
  offset_ = 0;
  return done;
}

}  // namespace dbaas::storage
