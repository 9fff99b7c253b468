//! How a pass runs: for real or as a dry run, until which deadline, with
//! what shown on a terminal, and what a sweep reads besides.

use reconciler_core::UnixTime;

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Observe and plan, write nothing.
    pub dry_run: bool,
    pub now: UnixTime,
    /// Stop writing at this point and report the rest as deferred (the
    /// Lambda's deadline minus a margin). `None`: run to the end.
    pub deadline: Option<tokio::time::Instant>,
    /// Show how many changes are done on stderr (for `alarmctl` on a terminal).
    pub progress: bool,
    /// A sweep also reads the tags of every owned alarm it keeps and adds
    /// the missing ones (`alarmctl sweep --retag`; one call per alarm).
    pub retag: bool,
}

impl RunOptions {
    pub fn new(now: UnixTime) -> Self {
        Self { dry_run: false, now, deadline: None, progress: false, retag: false }
    }

    pub(crate) fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|deadline| tokio::time::Instant::now() >= deadline)
    }
}
