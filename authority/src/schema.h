// Versioned SQLite schema of the authority store.
//
// kMigrations[i] takes a database from schema version i to i + 1; they are
// applied in order, each batch inside one transaction, and never edited once
// released (append a new migration instead). schema_version holds exactly one
// row with the current version; an absent table means version 0 (empty DB).
#pragma once

#include <cstdint>
#include <span>

namespace tpmesh::authority::internal {

// The migrations this binary knows; the current version is their count.
std::span<const char* const> Migrations();
int64_t CurrentSchemaVersion();

// PRAGMA application_id stamped by migration 1 ("tpms"): lets OpenSqliteStore
// refuse a SQLite database that belongs to some other program.
inline constexpr int64_t kApplicationId = 0x74706d73;

// Largest subnet index the schema accepts (a /48 holds 2^16 /64s; index 0 is
// reserved for the authority itself).
inline constexpr uint32_t kMaxSubnetIndex = 65535;

}  // namespace tpmesh::authority::internal
