#!/bin/sh
# First start of the primary (docker-compose.yml): let the replica stream from it (the image's pg_hba.conf only
# lets "all" databases in, which does not cover replication connections).
set -e
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
