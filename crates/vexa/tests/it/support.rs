//! What the binary's tests add to the testkit's stack harness: the binary under test.

/// The `vexa` binary built for these tests (Cargo sets the variable for integration tests only,
/// which is why the testkit takes the path from here).
pub const VEXA: &str = env!("CARGO_BIN_EXE_vexa");
