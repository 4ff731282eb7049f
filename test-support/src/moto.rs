//! moto server, one request at a time (see `moto_server.py` for why).

use crate::{die_with_parent, free_port, http, ChildGuard};
use anyhow::{bail, Context as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A moto server.
pub struct Moto {
    pub url: String,
    _child: ChildGuard,
}

/// The Python that has moto: the project's virtual environment, where
/// `scripts/setup.sh` installs the Python tools, else `python3` on PATH.
pub fn project_python() -> std::path::PathBuf {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/venv/bin/python3");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

impl Moto {
    /// Starts moto on a free port. `lambda_port` is where moto's Step
    /// Functions engine sends Lambda Invoke calls (it uses `$MOTO_PORT`).
    pub fn start(lambda_port: u16) -> anyhow::Result<Self> {
        let port = free_port()?;
        let launcher = concat!(env!("CARGO_MANIFEST_DIR"), "/moto_server.py");
        let mut cmd = Command::new(project_python());
        cmd.args([launcher, "127.0.0.1", &port.to_string()])
            .env("MOTO_PORT", lambda_port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = die_with_parent(&mut cmd)
            .spawn()
            .context("starting moto (scripts/setup.sh test installs it)")?;
        let moto = Moto {
            url: format!("http://127.0.0.1:{port}"),
            _child: ChildGuard(child),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if http::request(
                port,
                "POST",
                "/moto-api/config",
                &[("Content-Type", "application/json")],
                br#"{"stepfunctions":{"execute_state_machine":true}}"#,
            )
            .is_ok_and(|r| (200..300).contains(&r.status))
            {
                return Ok(moto);
            }
            if Instant::now() > deadline {
                bail!("moto did not start on port {port} within 60 s");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
