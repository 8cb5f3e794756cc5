//! Resident memory and CPU time of a process, read from `/proc/<pid>/statm` and `/proc/<pid>/stat`.

use std::fs;

/// One reading of a process's resources.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcSample {
    /// Resident set size in bytes.
    pub rss_bytes: u64,
    /// User + system CPU time in clock ticks.
    pub cpu_ticks: u64,
}

/// Clock ticks per second (`_SC_CLK_TCK`).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as u64 } else { 4096 }
}

/// Peak resident set (`VmHWM`) of a process, in KiB.
pub fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Reads the process's RSS and CPU time; `None` when it is gone or `/proc` is unreadable.
pub fn sample(pid: i32) -> Option<ProcSample> {
    let statm = fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let rss_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let cpu_ticks = parse_stat_cpu(&stat)?;
    Some(ProcSample {
        rss_bytes: rss_pages * page_size(),
        cpu_ticks,
    })
}

/// utime + stime from the text of `/proc/<pid>/stat`. The command name (field 2) may contain
/// spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat_cpu(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state(3) ppid(4) … utime is field 14, stime 15 → indexes 11 and 12 here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU use between two samples taken `elapsed_secs` apart, in percent of one core.
pub fn cpu_percent(before: ProcSample, after: ProcSample, elapsed_secs: f64) -> f64 {
    if elapsed_secs <= 0.0 {
        return 0.0;
    }
    let ticks = after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64;
    100.0 * ticks / ticks_per_second() as f64 / elapsed_secs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parsing_survives_odd_command_names() {
        let stat = "1234 (a) b (c)) S 1 2 3 4 5 6 7 8 9 10 11 22 0 0 20 0 1 0";
        assert_eq!(parse_stat_cpu(stat), Some(33));
        assert_eq!(parse_stat_cpu("garbage"), None);
    }

    #[test]
    fn own_process_has_rss() {
        let s = sample(std::process::id() as i32).expect("own /proc entry");
        assert!(s.rss_bytes > 0);
    }
}
