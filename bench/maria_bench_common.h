// What the MariaDB benchmark tools share: a table of ~1 KiB rows filled to a size, and a
// write load of autocommit single-row UPDATEs with its longest commit.
#pragma once

#include <atomic>
#include <chrono>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/process.h"
#include "base/status.h"
#include "engines/mariadb/maria_connection.h"

namespace dbaas::bench {

namespace engines = dbaas::engines;

using std::chrono::steady_clock;

inline double Since(steady_clock::time_point t) {
  return std::chrono::duration<double>(steady_clock::now() - t).count();
}

inline int Fail(const dbaas::Status& st) {
  std::cerr << "error: " << st.ToString() << "\n";
  return 1;
}

// Writers updating random rows of bench.rows; the longest single commit is kept.
class WriteLoad {
 public:
  WriteLoad(const engines::MariaEndpoint& e, int writers, long rows) {
    for (int w = 0; w < writers; ++w) {
      threads_.emplace_back([this, e, w, rows] {
        auto c = engines::MariaConnection::Connect(e);
        if (!c.ok()) return;
        std::mt19937_64 rng(w);
        std::uniform_int_distribution<long> id(1, rows);
        while (!stop_) {
          auto t = steady_clock::now();
          bool ok =
              c->Query(fmt::format("UPDATE bench.rows SET n = n + 1 WHERE id = {}", id(rng))).ok();
          double took = Since(t);
          if (!ok) continue;
          ++commits_;
          double seen = max_latency_.load();
          while (took > seen && !max_latency_.compare_exchange_weak(seen, took)) {
          }
        }
      });
    }
  }
  ~WriteLoad() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }
  long commits() const { return commits_; }
  double TakeMaxLatency() { return max_latency_.exchange(0); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<long> commits_{0};
  std::atomic<double> max_latency_{0};
  std::vector<std::thread> threads_;
};

inline dbaas::Result<std::string> Run(std::vector<std::string> argv) {
  dbaas::ProcessOptions p;
  p.argv = std::move(argv);
  return dbaas::RunChecked(p, std::chrono::hours(2));
}

inline uint64_t DirBytes(const std::string& dir) {
  auto out = Run({"du", "-sb", dir});
  return out.ok() ? std::stoull(out.value()) : 0;
}

// bench.rows: ~1 KiB rows (base64 of random bytes: compresses to about 3/4), size_mb * 1024
// of them; `rows` gets how many.
inline dbaas::Status FillBenchTable(engines::MariaConnection& conn, int size_mb, long* rows) {
  *rows = static_cast<long>(size_mb) * 1024;
  std::cerr << "loading " << size_mb << " MiB (" << *rows << " rows)\n";
  for (const char* sql : {"CREATE DATABASE bench",
                          "CREATE TABLE bench.rows (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, "
                          "pad VARCHAR(1000) NOT NULL) ENGINE=InnoDB"}) {
    if (auto r = conn.Query(sql); !r.ok()) return r.status();
  }
  for (long from = 1; from <= *rows; from += 100000) {
    long to = std::min(*rows, from + 99999);
    auto r =
        conn.Query(fmt::format("INSERT INTO bench.rows SELECT seq, 0, "
                               "TO_BASE64(RANDOM_BYTES(720)) FROM mysql.seq_{}_to_{}",
                               from, to));
    if (!r.ok()) return r.status();
  }
  return dbaas::Status::Ok();
}

}  // namespace dbaas::bench
