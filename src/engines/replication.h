// Streaming replication between the members of one instance (issue 15): a primary and its
// standbys, each a server of its own (own port, directory, OS user), the standbys streaming
// the primary's log through replication slots of their own. The engine says how (make a
// standby, where each member is, promote one, point the others at it, bring an old primary
// back as a standby); the control layer decides when (control/replication_ops.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dbaas::engines {

// What makes an instance a standby: whom it streams from and through which slot.
struct StandbySpec {
  uint16_t primary_port = 0;
  std::string slot;                        // its physical replication slot on the primary
  std::string primary_host = "127.0.0.1";  // the address the primary listens on
};

// The replication slot of a member on whichever member is primary: its name with '-' as
// '_' (slot names are lower-case letters, digits and '_'; member names are DNS labels).
std::string SlotNameOf(const std::string& member);

// One standby as its primary sees it (PostgreSQL: a row of pg_stat_replication).
struct ReplicaLink {
  std::string member;      // its application_name: the member's name
  std::string state;       // streaming, catchup, startup, backup, stopping
  std::string sync_state;  // async, potential, sync, quorum
  std::string sent_lsn;
  std::string write_lsn;
  std::string flush_lsn;
  std::string replay_lsn;
  uint64_t lag_bytes = 0;  // the primary's current position minus replay_lsn
  double lag_seconds = 0;  // replay_lag (0 when idle)
};

// Where a running member is.
struct MemberPosition {
  bool standby = false;  // in recovery
  uint32_t timeline = 0;
  // Primary: its current write position; standby: the last position received (else
  // replayed). What a failover compares.
  std::string lsn;
  // What orders positions (PostgreSQL: the LSN; MariaDB: the GTIDs' sequence numbers).
  uint64_t lsn_value = 0;
  std::string replay_lsn;             // standby: the last replayed
  std::vector<ReplicaLink> replicas;  // primary: its standbys, as it sees them
  // Standby: its link as it sees it itself (MariaDB's SHOW REPLICA STATUS; PostgreSQL's
  // standbys leave it to the primary).
  std::optional<ReplicaLink> upstream;
};

}  // namespace dbaas::engines
