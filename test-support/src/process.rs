//! Child processes that never outlive the test.

use std::process::{Child, Command};

/// Kills the child when dropped, and (on Linux) when this process dies.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Makes a spawned child die with the test process, even on a crash.
#[allow(unsafe_code)]
pub fn die_with_parent(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; nothing else runs in pre_exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        })
    }
}

/// Sends `signal` to process `pid` (a negative pid: its process group).
#[allow(unsafe_code)]
pub fn send_signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) takes any pid and signal; the worst case is an error.
    unsafe { libc::kill(pid, signal) };
}
