//! Follows identity events (revocations, user changes) from other processes: LISTEN/NOTIFY on PostgreSQL plus a polling backstop on both backends.
