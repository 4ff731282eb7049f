//! What the backend's and the studio's over-the-wire tests share: real
//! servers and processes on 127.0.0.1 free ports, stopped when dropped.
//!
//! * [`free_port`], [`TempDir`]: a place to listen and a folder to write;
//! * [`ChildGuard`], [`die_with_parent`], [`send_signal`]: child processes
//!   that never outlive the test;
//! * [`Moto`]: moto server (S3, DynamoDB, Step Functions, Firehose);
//! * [`http`]: one raw HTTP/1.1 client, for requests a browser or a hostile
//!   client could send byte for byte (the code under test talks through the
//!   AWS SDK);
//! * [`sdk_config`]: the SDK configuration every test client uses.

pub mod http;
mod moto;
mod process;

pub use moto::{project_python, Moto};
pub use process::{die_with_parent, send_signal, ChildGuard};

use anyhow::Context as _;
use std::net::TcpListener;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A temporary folder, unique to this process and tag, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> anyhow::Result<Self> {
        let p = std::env::temp_dir().join(format!("ivs-ads-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
        Ok(Self(p))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// The path as a command-line argument (temp_dir() is UTF-8 here; a
    /// path that is not gives "", which the program under test refuses).
    pub fn arg(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The SDK configuration for the tests: static credentials, one region.
pub async fn sdk_config() -> aws_config::SdkConfig {
    sdk_config_as("testing").await
}

/// The SDK configuration of a function playing `role`: the role is the
/// access key id, which the backend tests' recording proxy reads back.
pub async fn sdk_config_as(role: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_credential_types::Credentials::new(
            role, "testing", None, None, "tests",
        ))
        .load()
        .await
}
