//! The process's one Prometheus recorder.
//!
//! `metrics` allows one global recorder per process and installing a second fails, while every
//! test of a binary that builds a service wants a handle to render. So the first caller installs
//! it and every later one gets a clone of the same handle. Counters are therefore shared by the
//! tests of one binary: a test asserts that a series exists or grew, never an absolute count.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The handle of the recorder installed for this test process (installed on the first call).
pub fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("the first recorder of this test process installs")
        })
        .clone()
}
