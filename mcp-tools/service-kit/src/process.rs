//! A process's memory as Linux reports it, for the benchmarks that watch the servers they start.

/// Resident set size now and its peak (`VmRSS`, `VmHWM` of `/proc/<pid>/status`), in KiB; zeros when the
/// process is gone or the system has no `/proc`.
pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_has_a_resident_set() {
        let (rss, peak) = super::memory_kib(std::process::id());
        assert!(rss > 0 && peak >= rss, "{rss} {peak}");
        assert_eq!(super::memory_kib(u32::MAX), (0, 0));
    }
}
