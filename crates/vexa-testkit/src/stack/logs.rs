//! What a stack's processes wrote: server logs (`<data_dir>/*.log`) and bot logs
//! (`<data_dir>/bots/*`).

use super::StackEnv;

/// Every server log of the stack, concatenated.
pub fn server_logs(env: &StackEnv) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(&env.data_dir)
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "log") {
            out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    out
}

/// Every bot log of the stack, each under a `[<file name>]` line.
pub fn bot_logs(env: &StackEnv) -> String {
    std::fs::read_dir(env.data_dir.join("bots"))
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    format!(
                        "[{}]\n{}",
                        e.file_name().to_string_lossy(),
                        std::fs::read_to_string(e.path()).unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// The last `n` lines of `text`.
pub(super) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().rev().take(n).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join("\n")
}
