#!/bin/bash
# Runs once, when the primary's data directory is created: a replication role and its pg_hba entry.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD 'replicator';
SQL
# any role with REPLICATION may stream (replicator; app, the superuser a rejoined node follows with)
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
