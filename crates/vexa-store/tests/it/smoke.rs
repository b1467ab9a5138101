//! Both backends open and migrate.
use vexa_testkit::{on_both_backends, Backend, TestDb};

async fn both_backends_open_and_migrate_twice(backend: Backend) {
    let t = TestDb::new(backend).await;
    let again = vexa_store::Db::connect(&t.url, &vexa_store::ConnectOptions::default()).await;
    assert!(again.is_ok(), "{:?}", again.err());
}

#[tokio::test]
async fn processes_opening_one_fresh_sqlite_file_at_once_all_succeed() {
    for round in 0..20 {
        let dir = tempfile::tempdir().expect("tmp");
        let url = format!("sqlite://{}", dir.path().join("fresh.db").display());
        // Separate pools stand in for separate processes: each has its own connections, and
        // SQLite runs each connection on its own worker thread, so the opens really overlap.
        let opts = vexa_store::ConnectOptions::default();
        let opens =
            futures_util::future::join_all((0..4).map(|_| vexa_store::Db::connect(&url, &opts)))
                .await;
        for db in opens {
            assert!(db.is_ok(), "round {round}: {:?}", db.err());
        }
    }
}

on_both_backends!(both_backends_open_and_migrate_twice,);
