//! Bot processes seen from outside, through `/proc`: which are alive, and which belong to the
//! server under test.
//!
//! A bot inherits its server's environment plus `VEXA_BOT_CONFIG`, so a marker that only one
//! server's environment holds (its data directory, its callback port) picks out exactly that
//! server's bots, whichever other tests run in parallel.

/// Pids of live processes whose environment holds `VEXA_BOT_CONFIG=` and `marker`.
pub fn bot_pids_with(marker: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let environ = String::from_utf8_lossy(&environ);
        if environ.contains("VEXA_BOT_CONFIG=") && environ.contains(marker) && alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// `kill(pid, 0)` as a test needs it: a zombie (exited, not yet reaped) counts as dead.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// SIGKILLs every pid; for the `Drop` safety nets of harnesses whose test failed half way.
pub fn kill_all(pids: &[i32]) {
    for pid in pids {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
}
