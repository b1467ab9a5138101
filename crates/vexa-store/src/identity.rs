//! SQLite and PostgreSQL implementation of `vexa_core::IdentityStore` (users, keys, identity events).
