//! The installer on a machine that lacks tools. `scripts/setup.sh --plan
//! PROFILE` decides what it would install and installs nothing; here it runs
//! under a PATH from which chosen tools are missing (one at a time, then all
//! together) and must name exactly the packages that provide them, once
//! each, exit 0, and plan nothing when every tool is present.
//!
//! The fake machine is a folder of links to every command on the real PATH,
//! cargo's bin folder and the project's venv, less the removed ones; it
//! stands as PATH, as `$CARGO_HOME/bin` and as the venv's `bin`
//! (`$IVS_ADS_VENV`), which setup.sh also looks in. It needs the real
//! machine to be fully set up first (`scripts/setup.sh test`, which the test
//! command runs before any test).

use anyhow::{bail, ensure, Context as _};
use std::collections::{BTreeSet, HashSet};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use test_support::TempDir;

const PROFILES: [Profile; 3] = [Profile::Run, Profile::Deploy, Profile::Test];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Profile {
    Run,
    Deploy,
    Test,
}

impl Profile {
    fn name(self) -> &'static str {
        match self {
            Profile::Run => "run",
            Profile::Deploy => "deploy",
            Profile::Test => "test",
        }
    }
    /// True when this profile includes `other`'s needs (test ⊃ deploy ⊃ run).
    fn includes(self, other: Profile) -> bool {
        (self as u8) >= (other as u8)
    }
}

/// A tool a new machine may lack: the commands removed from PATH, the plan
/// item that must appear ("KIND NAME", the name without its pinned version)
/// and the first profile that needs it.
struct Missing {
    commands: &'static [&'static str],
    items: &'static [&'static str],
    from: Profile,
}

const MISSING: &[Missing] = &[
    Missing {
        commands: &["ffmpeg"],
        items: &["apt ffmpeg"],
        from: Profile::Run,
    },
    Missing {
        commands: &["ffprobe"],
        items: &["apt ffmpeg"],
        from: Profile::Run,
    },
    Missing {
        commands: &["node"],
        items: &["apt nodejs"],
        from: Profile::Run,
    },
    Missing {
        commands: &["npm"],
        items: &["apt npm"],
        from: Profile::Run,
    },
    Missing {
        commands: &["chromium"],
        items: &["apt chromium"],
        from: Profile::Test,
    },
    Missing {
        commands: &["chromedriver"],
        items: &["apt chromium-driver"],
        from: Profile::Test,
    },
    Missing {
        commands: &["zbarimg"],
        items: &["apt zbar-tools"],
        from: Profile::Test,
    },
    Missing {
        commands: &["shellcheck"],
        items: &["apt shellcheck"],
        from: Profile::Test,
    },
    Missing {
        commands: &["faketime"],
        items: &["apt faketime"],
        from: Profile::Test,
    },
    Missing {
        commands: &["wasm-bindgen"],
        items: &["cargo-install wasm-bindgen-cli"],
        from: Profile::Run,
    },
    Missing {
        commands: &["cargo-lambda"],
        items: &["pip cargo-lambda"],
        from: Profile::Deploy,
    },
    // The venv's own tools.
    Missing {
        commands: &["moto_server", "cfn-lint", "checkov"],
        items: &["pip moto", "pip cfn-lint", "pip checkov"],
        from: Profile::Test,
    },
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn real_venv() -> PathBuf {
    std::env::var_os("IVS_ADS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".cache/venv"))
}

fn cargo_bin() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_default()
        .join("bin")
}

/// A machine without `removed`: `bin/` (every command but those), `cargo/`
/// and `venv/` whose `bin` is that folder (the venv's packages stay).
struct FakeMachine {
    dir: TempDir,
}

impl FakeMachine {
    fn without(tag: &str, removed: &[&str]) -> anyhow::Result<Self> {
        let dir = TempDir::new(&format!("installer-{tag}"))?;
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin)?;
        let venv = real_venv();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut sources = vec![venv.join("bin"), cargo_bin()];
        sources.extend(std::env::split_paths(&path));
        let mut linked = HashSet::new();
        for source in sources {
            let Ok(entries) = std::fs::read_dir(&source) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(name_str) = name.to_str() else {
                    continue;
                };
                if removed.contains(&name_str) || !linked.insert(name.clone()) {
                    continue;
                }
                symlink(entry.path(), bin.join(&name))?;
            }
        }
        for gone in removed {
            ensure!(!bin.join(gone).exists(), "{gone} is still linked");
        }
        let cargo = dir.path().join("cargo");
        std::fs::create_dir(&cargo)?;
        symlink(&bin, cargo.join("bin"))?;
        let fake_venv = dir.path().join("venv");
        std::fs::create_dir(&fake_venv)?;
        symlink(&bin, fake_venv.join("bin"))?;
        for kept in ["lib", "pyvenv.cfg"] {
            if venv.join(kept).exists() {
                symlink(venv.join(kept), fake_venv.join(kept))?;
            }
        }
        Ok(Self { dir })
    }

    /// `setup.sh --plan PROFILE` here: the plan's items ("KIND NAME", the
    /// version cut), in order, after checking it exited 0 and touched nothing.
    fn plan(&self, profile: Profile, venv: Option<&Path>) -> anyhow::Result<Vec<String>> {
        let bash = which("bash")?;
        let venv = venv.map_or_else(|| self.dir.path().join("venv"), Path::to_path_buf);
        let out = Command::new(bash)
            .arg(root().join("scripts/setup.sh"))
            .args(["--plan", profile.name()])
            .env("PATH", self.dir.path().join("bin"))
            .env("CARGO_HOME", self.dir.path().join("cargo"))
            .env("IVS_ADS_VENV", &venv)
            .output()
            .context("running setup.sh --plan")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(
            out.status.success(),
            "setup.sh --plan {} exited with {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            profile.name(),
            out.status
        );
        let mut items = Vec::new();
        for line in stdout.lines() {
            let Some(item) = line.strip_prefix("install ") else {
                bail!("setup.sh --plan printed a line that is not a plan item: {line:?}");
            };
            let (what, _why) = item.split_once(" -- ").unwrap_or((item, ""));
            let mut words = what.split_whitespace();
            let (Some(kind), Some(name), None) = (words.next(), words.next(), words.next()) else {
                bail!("a plan item is KIND NAME -- WHY: {line:?}");
            };
            let bare = name.split(['=', '@', '[']).next().unwrap_or(name);
            items.push(format!("{kind} {bare}"));
        }
        Ok(items)
    }
}

fn which(command: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(command))
        .find(|p| p.is_file())
        .with_context(|| format!("{command} is not on PATH"))
}

/// Checks a plan: each expected item once, and nothing else.
fn check_plan(context: &str, plan: &[String], expected: &BTreeSet<String>) -> anyhow::Result<()> {
    let mut seen = BTreeSet::new();
    for item in plan {
        ensure!(
            seen.insert(item.clone()),
            "{context}: {item} is planned twice: {plan:?}"
        );
    }
    ensure!(
        &seen == expected,
        "{context}: planned {seen:?}, expected exactly {expected:?}"
    );
    Ok(())
}

fn expected(cases: &[&Missing], profile: Profile) -> BTreeSet<String> {
    cases
        .iter()
        .filter(|m| profile.includes(m.from))
        .flat_map(|m| m.items.iter().map(|i| i.to_string()))
        .collect()
}

#[test]
fn with_every_tool_present_the_plan_is_empty() -> anyhow::Result<()> {
    let machine = FakeMachine::without("none", &[])?;
    for profile in PROFILES {
        let plan = machine.plan(profile, None)?;
        ensure!(
            plan.is_empty(),
            "nothing is missing, yet `setup.sh --plan {}` plans {plan:?} \
             (run scripts/setup.sh test first if this machine is not set up)",
            profile.name()
        );
    }
    Ok(())
}

#[test]
fn each_missing_tool_alone_is_planned_once_for_every_profile() -> anyhow::Result<()> {
    let mut failures = Vec::new();
    for (n, missing) in MISSING.iter().enumerate() {
        let machine = FakeMachine::without(&format!("alone-{n}"), missing.commands)?;
        for profile in PROFILES {
            let context = format!("without {:?}, profile {}", missing.commands, profile.name());
            let result = machine
                .plan(profile, None)
                .and_then(|plan| check_plan(&context, &plan, &expected(&[missing], profile)));
            if let Err(e) = result {
                failures.push(format!("{e:#}"));
            }
        }
    }
    ensure!(failures.is_empty(), "{}", failures.join("\n\n"));
    Ok(())
}

#[test]
fn all_missing_tools_together_are_each_planned_once() -> anyhow::Result<()> {
    let removed: Vec<&str> = MISSING
        .iter()
        .flat_map(|m| m.commands.iter().copied())
        .collect();
    let machine = FakeMachine::without("all", &removed)?;
    let all: Vec<&Missing> = MISSING.iter().collect();
    for profile in PROFILES {
        let plan = machine.plan(profile, None)?;
        check_plan(
            &format!("without all, profile {}", profile.name()),
            &plan,
            &expected(&all, profile),
        )?;
    }
    Ok(())
}

#[test]
fn without_the_venv_it_is_made_only_for_what_pip_installs() -> anyhow::Result<()> {
    let machine = FakeMachine::without("novenv", &[])?;
    let nowhere = machine.dir.path().join("no-venv-here");
    let wants: [(Profile, &[&str]); 3] = [
        // The run profile's text models are fetched already: no venv needed.
        (Profile::Run, &[]),
        (Profile::Deploy, &["pip cargo-lambda", "venv"]),
        (
            Profile::Test,
            &[
                "pip cargo-lambda",
                "pip moto",
                "pip cfn-lint",
                "pip checkov",
                "venv",
            ],
        ),
    ];
    for (profile, items) in wants {
        let plan = machine.plan(profile, Some(&nowhere))?;
        let expected: BTreeSet<String> = items
            .iter()
            .map(|i| {
                if *i == "venv" {
                    format!("venv {}", nowhere.display())
                } else {
                    i.to_string()
                }
            })
            .collect();
        check_plan(
            &format!("without a venv, profile {}", profile.name()),
            &plan,
            &expected,
        )?;
    }
    Ok(())
}

#[test]
fn the_plan_refuses_an_unknown_profile_with_a_message() -> anyhow::Result<()> {
    let out = Command::new(which("bash")?)
        .arg(root().join("scripts/setup.sh"))
        .args(["--plan", "everything"])
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "an unknown profile must fail");
    ensure!(
        stderr.contains("unknown profile 'everything'") && stderr.contains("run, deploy or test"),
        "the message names the profile and the choices: {stderr}"
    );
    Ok(())
}
