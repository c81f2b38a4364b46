// MariaDB's binlog as point-in-time recovery reads it, on files built event by event here
// (the same events real servers write are read in maria_pitr_test.cc).
#include "engines/mariadb/maria_binlog.h"

#include <zlib.h>

#include <gtest/gtest.h>

namespace dbaas::engines {
namespace {

class BinlogWriter {
 public:
  BinlogWriter() { bytes_ = {0xfe, 'b', 'i', 'n'}; }
  // The format description: CRC32 checksums, the in-use flag as given.
  BinlogWriter& Start(bool in_use) {
    std::vector<uint8_t> body(57, 0);
    body.push_back(1);  // BINLOG_CHECKSUM_ALG_CRC32, last before the checksum
    return Event(15, 1000, body, in_use ? 1 : 0);
  }
  BinlogWriter& Gtid(uint32_t ts, uint32_t domain, uint64_t seq, bool standalone) {
    std::vector<uint8_t> body;
    Put(body, seq, 8);
    Put(body, domain, 4);
    body.push_back(standalone ? 1 : 0);
    return Event(162, ts, body);
  }
  BinlogWriter& Query(uint32_t ts, const std::string& sql) {
    std::vector<uint8_t> body(13, 0);  // thread, exec time, db_len 0, error, no status vars
    body.push_back(0);                 // the empty db name's NUL
    body.insert(body.end(), sql.begin(), sql.end());
    return Event(2, ts, body);
  }
  // The GTID position when the file began.
  BinlogWriter& GtidList(const std::vector<engines::Gtid>& gtids) {
    std::vector<uint8_t> body;
    Put(body, gtids.size(), 4);
    for (const engines::Gtid& g : gtids) {
      Put(body, g.domain, 4);
      Put(body, g.server, 4);
      Put(body, g.seq, 8);
    }
    return Event(163, 1000, body);
  }
  BinlogWriter& Rows(uint32_t ts) { return Event(23, ts, std::vector<uint8_t>(20, 7)); }
  BinlogWriter& Xid(uint32_t ts) { return Event(16, ts, std::vector<uint8_t>(8, 1)); }
  BinlogWriter& Rotate() { return Event(4, 0, std::vector<uint8_t>(16, 0)); }
  size_t size() const { return bytes_.size(); }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  static void Put(std::vector<uint8_t>& out, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  BinlogWriter& Event(uint8_t type, uint32_t ts, const std::vector<uint8_t>& body,
                      uint16_t flags = 0) {
    std::vector<uint8_t> e;
    uint32_t size = static_cast<uint32_t>(19 + body.size() + 4);
    Put(e, ts, 4);
    e.push_back(type);
    Put(e, 7, 4);  // server_id
    Put(e, size, 4);
    Put(e, bytes_.size() + size, 4);
    Put(e, flags, 2);
    e.insert(e.end(), body.begin(), body.end());
    // As the server does: a format description's checksum is of it with the in-use flag
    // clear (the flag changes in place while the file is written).
    std::vector<uint8_t> summed = e;
    if (type == 15) summed[17] &= 0xfe;
    Put(e, ::crc32(0L, summed.data(), static_cast<uInt>(summed.size())), 4);
    bytes_.insert(bytes_.end(), e.begin(), e.end());
    return *this;
  }
  std::vector<uint8_t> bytes_;
};

TEST(BinlogScanTest, WholeTransactionsWithTheirEndsTimesAndGtids) {
  BinlogWriter w;
  w.Start(false).GtidList({{0, 3, 41}, {5, 3, 2}});
  size_t first = w.size();
  w.Gtid(2000, 0, 1, false).Rows(2000).Xid(2001);
  size_t after_first = w.size();
  w.Gtid(2005, 0, 2, true).Query(2005, "CREATE TABLE t (id INT)");
  size_t after_ddl = w.size();
  w.Gtid(2009, 1, 7, false).Query(2009, "BEGIN").Rows(2009).Query(2010, "COMMIT");
  size_t after_commit = w.size();
  w.Rotate();
  auto scan = ScanBinlogFile(w.bytes());
  ASSERT_TRUE(scan.ok()) << scan.status().ToString();
  ASSERT_EQ(scan->transactions.size(), 3u);
  EXPECT_EQ(scan->transactions[0].start, first);
  EXPECT_EQ(scan->transactions[0].end, after_first);
  EXPECT_EQ(scan->transactions[0].commit_time, 2001);
  EXPECT_EQ(scan->transactions[0].gtid.ToString(), "0-7-1");
  EXPECT_EQ(scan->transactions[1].end, after_ddl);
  EXPECT_EQ(scan->transactions[2].gtid.ToString(), "1-7-7");
  EXPECT_EQ(scan->transactions[2].commit_time, 2010);
  EXPECT_EQ(scan->end, after_commit);
  EXPECT_TRUE(scan->closed);
  EXPECT_FALSE(scan->in_use);
  EXPECT_EQ(FormatGtidPosition(scan->gtid_list), "0-3-41,5-3-2");
}

TEST(BinlogScanTest, ATransactionACrashCutShortIsNoTransaction) {
  BinlogWriter w;
  w.Start(true).Gtid(2000, 0, 1, false).Xid(2000);
  size_t whole = w.size();
  w.Gtid(2001, 0, 2, false).Rows(2001).Xid(2001);
  w.bytes().resize(w.size() - 5);  // the XID event half written
  auto scan = ScanBinlogFile(w.bytes());
  ASSERT_TRUE(scan.ok()) << scan.status().ToString();
  ASSERT_EQ(scan->transactions.size(), 1u);
  EXPECT_EQ(scan->end, whole);
  EXPECT_FALSE(scan->closed);
  EXPECT_TRUE(scan->in_use);
  EXPECT_EQ(BinlogInUse(w.bytes()), std::optional<bool>(true));

  // The same cut in a file its server closed is damage, not a crash.
  BinlogWriter closed;
  closed.Start(false).Gtid(2000, 0, 1, false).Xid(2000).Gtid(2001, 0, 2, false).Xid(2001);
  closed.bytes().resize(closed.size() - 5);
  EXPECT_EQ(ScanBinlogFile(closed.bytes()).status().code(), StatusCode::kCorruption);

  // Without its commit (the server rolled it back), rotated or not.
  BinlogWriter open;
  open.Start(false).Gtid(2000, 0, 1, false).Rows(2000).Rotate();
  auto rolled_back = ScanBinlogFile(open.bytes());
  ASSERT_TRUE(rolled_back.ok());
  EXPECT_TRUE(rolled_back->transactions.empty());
  EXPECT_EQ(rolled_back->end, 4u);
}

TEST(BinlogScanTest, ADamagedEventOrAFileOfAnotherKindIsCorruption) {
  BinlogWriter w;
  w.Start(false).Gtid(2000, 0, 1, false).Xid(2000).Rotate();
  std::vector<uint8_t> damaged = w.bytes();
  damaged[damaged.size() - 10] ^= 0x40;  // in the ROTATE event's body
  auto scan = ScanBinlogFile(damaged);
  EXPECT_EQ(scan.status().code(), StatusCode::kCorruption);
  EXPECT_NE(scan.status().message().find("CRC32"), std::string::npos);
  std::vector<uint8_t> text = {'h', 'e', 'l', 'l', 'o'};
  EXPECT_EQ(ScanBinlogFile(text).status().code(), StatusCode::kCorruption);
  EXPECT_FALSE(BinlogInUse(text).has_value());
}

TEST(BinlogScanTest, EventsTooShortForWhatTheyClaimAreCorruptionNotAReadPastTheirEnd) {
  // A GTID list claiming 2^28 entries in a 4-byte body, and one shorter than its checksum:
  // refused, nothing read beyond the event (ASan would see it).
  BinlogWriter claims;
  claims.Start(false);
  std::vector<uint8_t>& bytes = claims.bytes();
  size_t at = bytes.size();
  std::vector<uint8_t> e = {0, 0, 0, 0, 163, 7, 0, 0,    0,    27,   0,   0,
                            0, 0, 0, 0, 0,   0, 0, 0xff, 0xff, 0xff, 0x0f};
  uint32_t crc = ::crc32(0L, e.data(), static_cast<uInt>(e.size()));
  for (int i = 0; i < 4; ++i) e.push_back(static_cast<uint8_t>(crc >> (8 * i)));
  bytes.insert(bytes.end(), e.begin(), e.end());
  auto scan = ScanBinlogFile(bytes);
  EXPECT_EQ(scan.status().code(), StatusCode::kCorruption) << at;

  BinlogWriter tiny;
  tiny.Start(false);
  std::vector<uint8_t> t = {0, 0, 0, 0, 163, 7, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  tiny.bytes().insert(tiny.bytes().end(), t.begin(), t.end());
  EXPECT_EQ(ScanBinlogFile(tiny.bytes()).status().code(), StatusCode::kCorruption);
}

TEST(BinlogPositionTest, PositionsAndGtidsParseAndOrder) {
  auto p = ParseBinlogPosition("binlog.000042:1234");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->file, 42u);
  EXPECT_EQ(p->offset, 1234u);
  EXPECT_EQ(p->ToString(), "binlog.000042:1234");
  EXPECT_LT(ParseBinlogPosition("binlog.000042:99999")->Ordinal(),
            ParseBinlogPosition("binlog.000043:4")->Ordinal());
  for (const char* bad : {"binlog.42:1", "binlog.000042", "x.000042:1", "binlog.000042:-1",
                          "binlog.000042:1x", "../binlog.000042:1", "0/3000028"}) {
    EXPECT_FALSE(ParseBinlogPosition(bad).has_value()) << bad;
  }
  EXPECT_EQ(BinlogFileNumber("binlog.1234567"), std::optional<uint64_t>(1234567));
  EXPECT_FALSE(BinlogFileNumber("binlog.index").has_value());

  auto g = ParseGtidPosition("0-1-42, 3-9-7");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(FormatGtidPosition(*g), "0-1-42,3-9-7");
  EXPECT_TRUE(ParseGtidPosition("")->empty());
  for (const char* bad : {"0-1", "0-1-x", "a-1-2", "0-1-2,0-1-3", "0-1-2-", "-1-2"}) {
    EXPECT_EQ(ParseGtidPosition(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

// What a pod's agent answers is recorded only as a server writes it.
TEST(BinlogPositionTest, APodsPointIsTakenOnlyAsTheServerWritesIt) {
  EXPECT_TRUE(IsBinlogPoint("binlog.000002:1234", "0-1-42"));
  EXPECT_TRUE(IsBinlogPoint("binlog.000002:1234", "1-7-3,0-1-42"));
  EXPECT_TRUE(IsBinlogPoint("binlog.1000000:4", ""));
  EXPECT_FALSE(IsBinlogPoint("binlog.000002:01234", "0-1-42"));
  EXPECT_FALSE(IsBinlogPoint("binlog.2:1234", "0-1-42"));
  EXPECT_FALSE(IsBinlogPoint("binlog.000002:1234'; DROP TABLE backups; --", "0-1-42"));
  EXPECT_FALSE(IsBinlogPoint("binlog.000002:1234", "0-1-42; --"));
  EXPECT_FALSE(IsBinlogPoint("binlog.000002:1234", std::string(5000, '1')));
}

}  // namespace
}  // namespace dbaas::engines
