//! Every command the docs show must run as written. Each shell block of
//! README.md and docs/*.md is split into commands, and each command is held
//! to what it names:
//!
//! * a script (`./scripts/run.sh`, `player/build.sh`) exists and is
//!   executable, and `scripts/setup.sh`'s profile is one it takes;
//! * `cargo run|build|test -p P --bin B`: the package is a workspace member,
//!   the target exists, and every `--flag` after `--` is one the binary
//!   takes: its `--help` (and its subcommand's) lists it when the binary is
//!   built, else its source names it;
//! * `node FILE` exists; `cd DIR` exists; `npm ci` has a lock file;
//! * `npx cdk ... -c KEY=...`: each KEY is a context key the CDK app reads;
//! * `NAME=value` before a command: NAME is a variable the Lambdas read;
//! * anything else must be a known outside tool (aws, curl, ...).
//!
//! What it does not do is run the long commands themselves (a deploy, the
//! test command): the test command runs those, or an operator does.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Tools the docs may show that this project does not provide.
const OUTSIDE_TOOLS: &[&str] = &["aws", "curl", "git", "ffmpeg", "npm", "source"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Shell blocks of one Markdown file: (first line number, text).
fn shell_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut current {
            None => {
                if let Some(lang) = trimmed.strip_prefix("```") {
                    if matches!(lang.trim(), "sh" | "bash" | "shell" | "console") {
                        current = Some((n + 2, String::new()));
                    }
                }
            }
            Some((_, text)) => {
                if trimmed.starts_with("```") {
                    blocks.extend(current.take());
                } else {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
    blocks
}

/// The commands of a block: continuation lines joined, comments dropped,
/// split at `&&`, `;` and `|`.
fn commands(block: &str) -> Vec<Vec<String>> {
    let mut joined = String::new();
    for line in block.lines() {
        let line = line.strip_prefix("$ ").unwrap_or(line);
        match line.trim_end().strip_suffix('\\') {
            Some(start) => {
                joined.push_str(start);
                joined.push(' ');
            }
            None => {
                joined.push_str(line);
                joined.push('\n');
            }
        }
    }
    let mut out = Vec::new();
    for line in joined.lines() {
        let mut words = Vec::new();
        for word in split_words(line) {
            if word == "&&" || word == ";" || word == "|" {
                out.push(std::mem::take(&mut words));
            } else {
                words.push(word);
            }
        }
        out.push(words);
    }
    out.retain(|c| !c.is_empty());
    out
}

/// Shell words: whitespace-separated, quotes grouping and removed, a `#`
/// starting a word ending the line.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '#') if !in_word => break,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, ';') => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                words.push(";".into());
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// What the checks know about the repository.
struct Repo {
    root: PathBuf,
    /// Where this test's binaries were built (target/debug).
    built: PathBuf,
    lambda_env: BTreeSet<String>,
    context_keys: BTreeSet<String>,
}

impl Repo {
    fn load() -> Self {
        let root = root();
        let env_json: serde_json::Value =
            serde_json::from_str(&read(&root.join("backend/lambda-env.json"))).unwrap();
        let lambda_env = env_json
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !k.starts_with('$'))
            .cloned()
            .collect();
        let settings = read(&root.join("infra/lib/settings.ts"));
        let keys = settings
            .split("export const CONTEXT_KEYS = {")
            .nth(1)
            .and_then(|rest| rest.split("} as const").next())
            .expect("infra/lib/settings.ts defines CONTEXT_KEYS");
        let context_keys = keys
            .lines()
            .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k.trim().to_owned()))
            .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric()))
            .collect();
        // target/debug/deps/doc_commands-<hash> → target/debug
        let built = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
            .unwrap_or_else(|| root.join("target/debug"));
        Self {
            root,
            built,
            lambda_env,
            context_keys,
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Variables the test harness reads (tests/browser/lib.mjs: the studio
/// binary the browser tests start), which the docs may set on a command.
const HARNESS_VARIABLES: &[&str] = &["STUDIO_BIN"];

/// Checks one command, run from `cwd` (relative to the root); returns the
/// problems found and the directory the next command runs in.
fn check(repo: &Repo, cwd: &Path, words: &[String]) -> (Vec<String>, PathBuf) {
    let mut problems = Vec::new();
    let mut words = words;
    // NAME=value prefixes.
    while let Some((name, _)) = words.first().and_then(|w| w.split_once('=')) {
        if name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            if !repo.lambda_env.contains(name) && !HARNESS_VARIABLES.contains(&name) {
                problems.push(format!(
                    "{name} is not a variable the Lambdas read (backend/lambda-env.json) nor one the test harness reads"
                ));
            }
            words = &words[1..];
        } else {
            break;
        }
    }
    let Some(program) = words.first() else {
        return (problems, cwd.to_path_buf());
    };
    let args = &words[1..];
    let here = repo.root.join(cwd);
    match program.as_str() {
        "cd" => {
            let to = cwd.join(args.first().map(String::as_str).unwrap_or("."));
            if !repo.root.join(&to).is_dir() {
                problems.push(format!("cd {}: no such directory", to.display()));
            }
            return (problems, to);
        }
        "cargo" => check_cargo(repo, args, &mut problems),
        // Node's own flags (`--test`) come before the file.
        "node" => match args.iter().find(|a| !a.starts_with("--")) {
            Some(file) if here.join(file).is_file() => {}
            other => problems.push(format!("node {other:?}: no such file")),
        },
        "npx" => check_npx(repo, cwd, args, &mut problems),
        "npm" if args.first().map(String::as_str) == Some("ci") => {
            if !here.join("package-lock.json").is_file() {
                problems.push(format!("npm ci in {}: no package-lock.json", cwd.display()));
            }
        }
        p if p.contains('/') || p.ends_with(".sh") => check_script(repo, &here, p, args, &mut problems),
        p if OUTSIDE_TOOLS.contains(&p) => {}
        p => problems.push(format!(
            "{p}: neither a project script nor a known outside tool; add it to OUTSIDE_TOOLS if it is one"
        )),
    }
    (problems, cwd.to_path_buf())
}

fn check_script(
    repo: &Repo,
    here: &Path,
    script: &str,
    args: &[String],
    problems: &mut Vec<String>,
) {
    let path = here.join(script);
    let executable = std::fs::metadata(&path)
        .map(|m| {
            use std::os::unix::fs::PermissionsExt;
            m.is_file() && m.permissions().mode() & 0o111 != 0
        })
        .unwrap_or(false);
    if !executable {
        problems.push(format!("{script}: not an executable file"));
        return;
    }
    if path.ends_with("scripts/setup.sh") {
        // `--plan` only prints what the profile would install.
        if let Some(profile) = args.iter().find(|a| *a != "--plan") {
            let text = read(&repo.root.join("scripts/setup.sh"));
            let accepted = text
                .lines()
                .find(|l| l.trim_start().starts_with("run | deploy"))
                .is_some_and(|l| l.split(['|', ')']).any(|p| p.trim() == profile));
            if !accepted {
                problems.push(format!("scripts/setup.sh takes no profile {profile:?}"));
            }
        }
    }
    if path.ends_with("scripts/test.sh") {
        // Its stages are the words of the `stages=(...)` line.
        let text = read(&repo.root.join("scripts/test.sh"));
        let stages: Vec<&str> = text
            .lines()
            .find_map(|l| l.strip_prefix("stages=("))
            .map(|l| l.trim_end_matches(')').split_whitespace().collect())
            .unwrap_or_default();
        for arg in args {
            let known = ["--no-setup", "--list", "--help"].contains(&arg.as_str())
                || stages.contains(&arg.as_str());
            if !known {
                problems.push(format!("scripts/test.sh takes no stage or option {arg:?}"));
            }
        }
    }
}

fn check_npx(repo: &Repo, cwd: &Path, args: &[String], problems: &mut Vec<String>) {
    if args.first().map(String::as_str) != Some("cdk") {
        problems.push(format!(
            "npx {:?}: only the CDK is run through npx",
            args.first()
        ));
        return;
    }
    if cwd != Path::new("infra") {
        problems.push("npx cdk runs in infra/ (cd infra first)".into());
    }
    for pair in args.windows(2) {
        if pair[0] == "-c" {
            let key = pair[1].split('=').next().unwrap_or("");
            if !repo.context_keys.contains(key) {
                problems.push(format!(
                    "-c {key}: not a context key the CDK app reads (infra/lib/settings.ts)"
                ));
            }
        }
    }
}

fn check_cargo(repo: &Repo, args: &[String], problems: &mut Vec<String>) {
    let Some(verb) = args.first() else {
        return;
    };
    if !["run", "build", "test", "bench"].contains(&verb.as_str()) {
        problems.push(format!("cargo {verb}: not a command the docs should need"));
        return;
    }
    let (ours, theirs) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[1..i], &args[i + 1..]),
        None => (&args[1..], &args[args.len()..]),
    };
    let value = |flag: &str| ours.windows(2).find(|w| w[0] == flag).map(|w| w[1].clone());
    let package = value("-p");
    let Some(dir) = package.as_deref().map(|p| package_dir(repo, p)) else {
        problems.push("cargo without -p: name the package".into());
        return;
    };
    let Some(dir) = dir else {
        problems.push(format!("-p {package:?}: not a workspace member"));
        return;
    };
    let bin = value("--bin").or_else(|| {
        // A package with one binary, named after the package.
        (verb == "run").then(|| package.clone().unwrap_or_default())
    });
    let Some(bin) = bin else {
        return;
    };
    // src/bin/<bin>.rs, or src/main.rs for the binary named after the package.
    let mut sources = vec![dir.join(format!("src/bin/{bin}.rs"))];
    if package.as_deref() == Some(bin.as_str()) {
        sources.push(dir.join("src/main.rs"));
    }
    let source = sources.into_iter().find(|p| p.is_file());
    let Some(source) = source else {
        problems.push(format!("--bin {bin}: no such binary in {}", dir.display()));
        return;
    };
    let flags: Vec<&String> = theirs.iter().filter(|a| a.starts_with("--")).collect();
    if flags.is_empty() {
        return;
    }
    let known = match help_text(repo, &bin, theirs) {
        Some(help) => help,
        // Not built here: the binary's source must name each flag.
        None => read(&source),
    };
    for flag in flags {
        let name = flag.split('=').next().unwrap_or(flag);
        let as_field = name.trim_start_matches('-').replace('-', "_");
        if !(known.contains(name) || known.contains(&format!("{as_field}:"))) {
            problems.push(format!("{bin} takes no {name}"));
        }
    }
}

/// The directory of workspace member `package`.
fn package_dir(repo: &Repo, package: &str) -> Option<PathBuf> {
    // The members as the workspace's Cargo.toml lists them.
    let manifest = read(&repo.root.join("Cargo.toml"));
    let members: Vec<String> = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("members = ["))
        .map(|l| {
            l.trim_end_matches(']')
                .split(',')
                .map(|m| m.trim().trim_matches('"').to_owned())
                .filter(|m| !m.is_empty())
                .collect()
        })
        .unwrap_or_default();
    members.into_iter().map(|d| repo.root.join(d)).find(|d| {
        std::fs::read_to_string(d.join("Cargo.toml"))
            .is_ok_and(|t| t.contains(&format!("name = \"{package}\"")))
    })
}

/// `--help` of a built clap binary and of each subcommand the arguments
/// name. `None` when the binary is not built, or takes no `--help` (the
/// benches parse their own arguments: running them is not a check).
fn help_text(repo: &Repo, bin: &str, args: &[String]) -> Option<String> {
    const CLAP_BINARIES: &[&str] = &["adctl", "studio", "detect", "studio-dashboard"];
    if !CLAP_BINARIES.contains(&bin) {
        return None;
    }
    let exe = repo.built.join(bin);
    if !exe.is_file() {
        return None;
    }
    let help = |extra: &[&str]| -> Option<String> {
        let out = Command::new(&exe).args(extra).arg("--help").output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let mut text = help(&[])?;
    for word in args.iter().filter(|a| !a.starts_with('-')) {
        if let Some(sub) = help(&[word.as_str()]) {
            text.push_str(&sub);
        }
    }
    Some(text)
}

#[test]
fn every_command_in_the_docs_runs_as_written() {
    let repo = Repo::load();
    let mut files = vec![repo.root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo.root.join("docs"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in &files {
        let name = file
            .strip_prefix(&repo.root)
            .unwrap_or(file)
            .display()
            .to_string();
        for (line, block) in shell_blocks(&read(file)) {
            let mut cwd = PathBuf::new();
            for words in commands(&block) {
                let (found, next) = check(&repo, &cwd, &words);
                cwd = next;
                checked += 1;
                problems.extend(
                    found
                        .into_iter()
                        .map(|p| format!("{name}:{line}: `{}`: {p}", words.join(" "))),
                );
            }
        }
    }
    assert!(
        checked >= 20,
        "only {checked} commands found: is the extraction broken?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    eprintln!("{checked} commands in {} files checked", files.len());
}

#[test]
fn the_checks_catch_a_wrong_command() {
    let repo = Repo::load();
    let bad = "./scripts/nope.sh\n\
               cargo run -p backend --bin adctl -- --no-such-flag products\n\
               cargo run -p no-such-package\n\
               TABLE_NAMES=x cargo run -p backend --bin adctl -- products\n\
               ./scripts/setup.sh everything\n\
               ./scripts/test.sh wire everything\n\
               make deploy\n\
               cd infra && npx cdk deploy -c detecter=builtin\n";
    let mut cwd = PathBuf::new();
    let mut found = Vec::new();
    for words in commands(bad) {
        let (problems, next) = check(&repo, &cwd, &words);
        cwd = next;
        found.extend(problems);
    }
    let all = found.join("\n");
    for expected in [
        "nope.sh: not an executable file",
        "adctl takes no --no-such-flag",
        "not a workspace member",
        "-c detecter",
        "TABLE_NAMES is not a variable",
        "no profile \"everything\"",
        "test.sh takes no stage or option \"everything\"",
        "make: neither",
    ] {
        assert!(all.contains(expected), "{expected:?} not caught in:\n{all}");
    }
}

#[test]
fn words_and_commands_split_as_the_shell_does() {
    assert_eq!(
        split_words(r#"curl -d '{"a": 1}' "x y" z # comment"#),
        [r#"curl"#, "-d", r#"{"a": 1}"#, "x y", "z"]
    );
    let cmds = commands("a \\\n  b && c | d\n# only a comment\n");
    assert_eq!(cmds, [vec!["a", "b"], vec!["c"], vec!["d"]]);
}
