//! SQLite and PostgreSQL implementation of the meetings store port.
