//! Both storage backends for tests: the fresh databases ([`TestDb`], owned by vexa-store) and
//! the one way a suite runs on both, [`on_both_backends!`](crate::on_both_backends).

pub use vexa_store::testing::TestDb;
pub use vexa_store::Backend;

/// Runs each `async fn name(backend: Backend)` once per storage backend, as the tests
/// `name::sqlite` and `name::postgres`: the name stays the specification, the backend is the
/// leaf. A PostgreSQL test fails, never skips, when the server at `VEXA_TEST_PG_URL` is down.
///
/// The tests are `#[tokio::test]` unless an attribute comes first:
///
/// ```ignore
/// on_both_backends!(users_are_found_by_email, keys_resolve_until_revoked);
/// on_both_backends!(
///     #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
///     a_bot_runs_end_to_end,
/// );
/// ```
///
/// The calling crate needs `tokio` (with `macros`) and `vexa-testkit` as dev-dependencies.
#[macro_export]
macro_rules! on_both_backends {
    (#[$test:meta] $($name:ident),+ $(,)?) => {$(
        mod $name {
            #[$test]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await
            }
            #[$test]
            async fn postgres() {
                super::$name($crate::Backend::Postgres).await
            }
        }
    )+};
    ($($name:ident),+ $(,)?) => {
        $crate::on_both_backends!(#[tokio::test] $($name),+);
    };
}
