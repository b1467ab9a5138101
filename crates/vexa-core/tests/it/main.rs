//! vexa-core's integration tests, as one test binary (one module per area; see
//! `vexa-testkit` for why there is one binary per crate).

mod props;
