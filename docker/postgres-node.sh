#!/bin/bash
# One PostgreSQL node of the compose demo (both postgres services run this).
#   NODE_ROLE=primary: the initial primary (the image's entrypoint creates it on first start).
#   NODE_ROLE=replica: on first start, a streaming replica of the primary (pg_basebackup -R).
# Rejoin: when the failover supervisor (chaosrunner.demo.pgsupervisor) demotes a node (an old
# primary back after a failover, or the primary of a switchover) it leaves the new primary's DSN
# in $PGDATA/chaosrunner.rejoin and stops PostgreSQL; the container restarts (restart policy) and
# this script rewinds the data directory from the new primary (pg_rewind, which needs
# wal_log_hints) and writes the replica's recovery settings before PostgreSQL starts again.
set -uo pipefail
PGDATA=${PGDATA:-/var/lib/postgresql/data}
if [ "${NODE_ROLE:-primary}" = replica ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  until PGPASSWORD=replicator pg_basebackup -h toxiproxy -p 15432 -U replicator -D "$PGDATA" -R -X stream; do
    sleep 1
  done
  chmod 700 "$PGDATA"
fi
# pg_rewind removes files the source server lacks, the marker among them: keep a copy outside
# $PGDATA (it survives a restart of the container) until the rewind has succeeded
pending=/var/lib/postgresql/chaosrunner.rejoin.pending
if [ -f "$PGDATA/chaosrunner.rejoin" ]; then
  cp "$PGDATA/chaosrunner.rejoin" "$pending.tmp" && mv "$pending.tmp" "$pending"
fi
if [ -f "$pending" ]; then
  source_dsn=$(cat "$pending")
  until pg_rewind --target-pgdata="$PGDATA" --source-server="$source_dsn" --write-recovery-conf; do
    echo "rejoin: pg_rewind from the new primary failed; retrying in 2s" >&2
    sleep 2
  done
  rm -f "$PGDATA/chaosrunner.rejoin" "$pending"
fi
# cluster_name puts the node's name in every process title: the inventory finds processes by it
exec docker-entrypoint.sh postgres -c wal_level=replica -c max_wal_senders=10 -c hot_standby=on \
  -c wal_keep_size=256MB -c wal_log_hints=on -c cluster_name="$NODE_NAME"
