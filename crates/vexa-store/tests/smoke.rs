//! Both backends open and migrate.
use vexa_store::testing::TestDb;

#[tokio::test]
async fn both_backends_open_and_migrate_twice() {
    for t in TestDb::each().await {
        let again = vexa_store::Db::connect(&t.url, &vexa_store::ConnectOptions::default()).await;
        assert!(again.is_ok(), "{:?}", again.err());
    }
}
