//! Integration tests: where `reduce -o`, `reduce-bundle -o`, `export --out`
//! and `demo --out` write (issue 13, point 1).
//!
//! `-` is standard output; an existing FIFO or device is written in place,
//! as a shell redirection would; a symbolic link is followed and stays a
//! link; only a new path or a regular file is replaced, atomically; a
//! directory or socket is an error naming it. Every path here is inside a
//! temporary directory: the machine's own `/dev` is never written.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::support::{example, fails, ok, seeded_store, tracefold};

/// Every output-writing command, with `PATH` standing for the output path,
/// and a check that what it wrote is what the command writes to a file.
fn commands(bundle: &Path) -> Vec<Vec<String>> {
    let bundle = bundle.to_str().expect("utf-8").to_string();
    let args = |list: &[&str]| list.iter().map(|arg| arg.to_string()).collect::<Vec<_>>();
    vec![
        args(&["reduce", "rollout-example", "-o", "PATH"]),
        args(&["reduce-bundle", &bundle, "-o", "PATH"]),
        args(&[
            "export",
            "rollout-example",
            "--format",
            "state",
            "--out",
            "PATH",
        ]),
        args(&[
            "export",
            "rollout-example",
            "--format",
            "jsonl",
            "--out",
            "PATH",
        ]),
        args(&["demo", "--turns", "2", "--seed", "3", "--out", "PATH"]),
    ]
}

fn with_path(command: &[String], path: &Path) -> Vec<String> {
    command
        .iter()
        .map(|arg| {
            if arg == "PATH" {
                path.to_str().expect("utf-8").to_string()
            } else {
                arg.clone()
            }
        })
        .collect()
}

fn run(store: &Path, args: &[String]) -> std::process::Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tracefold(store, &args)
}

fn run_ok(store: &Path, args: &[String]) -> std::process::Output {
    let out = run(store, args);
    assert!(
        out.status.success(),
        "tracefold {args:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The first line a command writes: `{` for state JSON, the first event
/// for JSONL.
fn looks_like_output(text: &str) -> bool {
    text.starts_with("{\n  \"schema_version\": 1") || text.starts_with("{\"schema_version\":1")
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .map(|meta| meta.file_type().is_symlink())
        .unwrap_or(false)
}

fn bundle_copy(dir: &Path) -> PathBuf {
    let bundle = dir.join("bundle");
    crate::support::copy_dir(&example("bundle"), &bundle);
    bundle
}

#[test]
fn a_dash_writes_to_standard_output_and_creates_no_file_named_dash() {
    let (dir, store, _) = seeded_store();
    let bundle = bundle_copy(dir.path());
    let work = dir.path().join("work");
    std::fs::create_dir(&work).expect("mkdir");
    for command in commands(&bundle) {
        let args = with_path(&command, Path::new("-"));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tracefold"))
            .current_dir(&work)
            .arg("--store")
            .arg(&store)
            .args(&args)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).expect("utf-8");
        assert!(looks_like_output(&stdout), "{args:?}: {stdout:.200}");
        // The demo's summary moves to stderr, so stdout stays one document.
        if command[0] == "demo" {
            let _: serde_json::Value = serde_json::from_str(&stdout).expect("demo state JSON");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("state JSON         (standard output)"),
                "{stderr}"
            );
        }
        assert!(!work.join("-").exists(), "{args:?} wrote a file named -");
        assert!(!bundle.join("-").exists(), "{args:?} wrote a file named -");
    }
    let err = fails(
        &store,
        &[
            "export",
            "rollout-example",
            "--format",
            "codex-bundle",
            "--out",
            "-",
        ],
    );
    assert!(err.contains("cannot go to standard output"), "{err}");
}

#[test]
fn an_existing_regular_file_is_replaced_atomically_keeping_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, store, _) = seeded_store();
    let bundle = bundle_copy(dir.path());
    for (index, command) in commands(&bundle).iter().enumerate() {
        let out_dir = dir.path().join(format!("out-{index}"));
        std::fs::create_dir(&out_dir).expect("mkdir");
        let path = out_dir.join("out.json");
        std::fs::write(&path, "old contents").expect("seed");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        run_ok(&store, &with_path(command, &path));
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(looks_like_output(&text), "{command:?}: {text:.200}");
        let meta = std::fs::symlink_metadata(&path).expect("meta");
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640, "{command:?}");
        // No temporary file is left beside it.
        let names: Vec<_> = std::fs::read_dir(&out_dir)
            .expect("read dir")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["out.json"], "{command:?}");
    }
}

#[test]
fn a_symbolic_link_is_followed_and_stays_a_link() {
    let (dir, store, _) = seeded_store();
    let bundle = bundle_copy(dir.path());
    for (index, command) in commands(&bundle).iter().enumerate() {
        let target = dir.path().join(format!("target-{index}.json"));
        std::fs::write(&target, "old contents").expect("seed");
        let link = dir.path().join(format!("link-{index}.json"));
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        run_ok(&store, &with_path(command, &link));
        assert!(is_symlink(&link), "{command:?} replaced the link");
        let text = std::fs::read_to_string(&target).expect("read");
        assert!(looks_like_output(&text), "{command:?}: {text:.200}");
        // A dangling link creates its target, as a shell redirection does.
        let dangling = dir.path().join(format!("dangling-{index}.json"));
        let created = dir.path().join(format!("created-{index}.json"));
        std::os::unix::fs::symlink(&created, &dangling).expect("symlink");
        run_ok(&store, &with_path(command, &dangling));
        assert!(is_symlink(&dangling));
        assert!(looks_like_output(
            &std::fs::read_to_string(&created).expect("created")
        ));
    }
}

#[test]
fn a_fifo_is_written_in_place_and_stays_a_fifo() {
    use std::os::unix::fs::FileTypeExt;
    let (dir, store, _) = seeded_store();
    let bundle = bundle_copy(dir.path());
    for (index, command) in commands(&bundle).iter().enumerate() {
        let fifo = dir.path().join(format!("fifo-{index}"));
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                let mut text = String::new();
                std::fs::File::open(&fifo)
                    .expect("open fifo")
                    .read_to_string(&mut text)
                    .expect("read fifo");
                text
            })
        };
        run_ok(&store, &with_path(command, &fifo));
        // Checked before joining: a replaced FIFO leaves the reader blocked.
        let kind = std::fs::symlink_metadata(&fifo).expect("meta").file_type();
        assert!(kind.is_fifo(), "{command:?} replaced the FIFO");
        let text = reader.join().expect("reader");
        assert!(looks_like_output(&text), "{command:?}: {text:.200}");
    }
}

/// Whether this process may make device nodes (root, as in CI).
fn can_mknod() -> bool {
    let probe = tempfile::tempdir().expect("tempdir");
    std::process::Command::new("mknod")
        .arg(probe.path().join("null"))
        .args(["c", "1", "3"])
        .stderr(std::process::Stdio::null())
        .status()
        .map(|status| status.success())
        .unwrap_or(false)
}

#[test]
fn a_character_device_is_written_in_place_and_stays_a_device() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    if !can_mknod() {
        eprintln!(
            "a_character_device_is_written_in_place_and_stays_a_device: not root (mknod refused), so the device case is not run here; CI runs it as root"
        );
        return;
    }
    let (dir, store, _) = seeded_store();
    let bundle = bundle_copy(dir.path());
    for (index, command) in commands(&bundle).iter().enumerate() {
        // A null device of our own, inside the temporary directory.
        let device = dir.path().join(format!("null-{index}"));
        let made = std::process::Command::new("mknod")
            .arg(&device)
            .args(["c", "1", "3"])
            .status()
            .expect("mknod runs");
        assert!(made.success());
        let before = std::fs::symlink_metadata(&device).expect("meta");
        run_ok(&store, &with_path(command, &device));
        let after = std::fs::symlink_metadata(&device).expect("meta");
        assert!(
            after.file_type().is_char_device(),
            "{command:?} replaced the device"
        );
        assert_eq!((after.ino(), after.rdev()), (before.ino(), before.rdev()));
    }
}

#[test]
fn a_directory_or_a_socket_is_an_error_naming_it_and_left_alone() {
    use std::os::unix::fs::FileTypeExt;
    let (dir, store, _) = seeded_store();
    let bundle = bundle_copy(dir.path());
    let directory = dir.path().join("a-directory");
    std::fs::create_dir(&directory).expect("mkdir");
    let socket = dir.path().join("a-socket");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    for command in commands(&bundle) {
        let err =
            String::from_utf8(run(&store, &with_path(&command, &directory)).stderr).expect("utf-8");
        assert!(
            err.contains("is a directory") && err.contains("a-directory"),
            "{command:?}: {err}"
        );
        let out = run(&store, &with_path(&command, &socket));
        assert_eq!(out.status.code(), Some(2), "{command:?}");
        let err = String::from_utf8(out.stderr).expect("utf-8");
        assert!(
            err.contains("is a socket") && err.contains("a-socket"),
            "{command:?}: {err}"
        );
        assert!(
            std::fs::symlink_metadata(&socket)
                .expect("meta")
                .file_type()
                .is_socket()
        );
    }
    assert_eq!(std::fs::read_dir(&directory).expect("read").count(), 0);
}

#[test]
fn a_codex_bundle_export_follows_a_link_to_an_empty_directory_and_refuses_files() {
    let (dir, store, _) = seeded_store();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let link = dir.path().join("bundle-link");
    std::os::unix::fs::symlink(&empty, &link).expect("symlink");
    ok(
        &store,
        &[
            "export",
            "rollout-example",
            "--format",
            "codex-bundle",
            "--out",
            link.to_str().expect("utf-8"),
        ],
    );
    assert!(is_symlink(&link));
    assert!(empty.join("manifest.json").is_file());
    assert!(empty.join("trace.jsonl").is_file());
    let file = dir.path().join("a-file");
    std::fs::write(&file, "keep me").expect("write");
    let err = fails(
        &store,
        &[
            "export",
            "rollout-example",
            "--format",
            "codex-bundle",
            "--out",
            file.to_str().expect("utf-8"),
        ],
    );
    assert!(err.contains("is not a directory"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "keep me");
}

#[test]
fn reduce_bundle_writes_beside_the_bundle_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = bundle_copy(dir.path());
    let store = dir.path().join("unused-store");
    ok(&store, &["reduce-bundle", bundle.to_str().expect("utf-8")]);
    assert!(looks_like_output(
        &std::fs::read_to_string(bundle.join("state.json")).expect("state.json")
    ));
    assert!(!store.exists(), "reduce-bundle needs no store");
}

/// Runs `tracefold --store STORE ARGS` in `dir` with its standard output
/// (or, with `close_stderr`, its standard error) a pipe that the reader
/// closes early: at once (`| true`), or after the first bytes (`| head -c
/// 64`). Returns the exit code and what the command wrote to the stream
/// that stayed open.
fn run_with_early_close(
    dir: &Path,
    store: &Path,
    args: &[&str],
    close_stderr: bool,
    read_first: bool,
) -> (Option<i32>, String) {
    use std::process::{Command, Stdio};
    let mut command = Command::new(env!("CARGO_BIN_EXE_tracefold"));
    command
        .current_dir(dir)
        .arg("--store")
        .arg(store)
        .args(args);
    if close_stderr {
        command.stdout(Stdio::null()).stderr(Stdio::piped());
    } else {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let mut child = command.spawn().expect("spawn");
    let mut closed = if close_stderr {
        Box::new(child.stderr.take().expect("stderr")) as Box<dyn Read>
    } else {
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read>
    };
    if read_first {
        let mut first = [0u8; 64];
        let _ = closed.read(&mut first);
    }
    drop(closed);
    let out = child.wait_with_output().expect("wait");
    let other = if close_stderr { out.stdout } else { out.stderr };
    (
        out.status.code(),
        String::from_utf8_lossy(&other).into_owned(),
    )
}

#[test]
fn a_reader_that_closes_the_pipe_early_ends_the_command_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let file = crate::support::growing_conversation_jsonl(dir.path(), "long", 200, 9);
    ok(&store, &["ingest", file.to_str().expect("utf-8")]);
    // The largest payload, so `payload` writes more than a pipe holds.
    let events = ok(&store, &["events", "long"]);
    let (hash, _) = events
        .lines()
        .flat_map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).expect("json");
            let refs: Vec<(String, u64)> = event["payload"]
                .as_object()
                .expect("payload")
                .values()
                .filter_map(|field| {
                    Some((
                        field.get("blake3")?.as_str()?.to_string(),
                        field.get("size_bytes")?.as_u64()?,
                    ))
                })
                .collect();
            refs
        })
        .max_by_key(|(_, size)| *size)
        .expect("a payload");
    let commands: Vec<Vec<&str>> = vec![
        vec!["demo"],
        vec!["demo", "--out", "-"],
        vec!["rollouts"],
        vec!["rollouts", "--json"],
        vec!["events", "long"],
        vec!["events", "long", "--inline-payloads"],
        vec!["reduce", "long"],
        vec!["reduce", "long", "-o", "-"],
        vec!["export", "long", "--format", "jsonl", "--out", "-"],
        vec!["export", "long", "--format", "state", "--out", "-"],
        vec!["stats"],
        vec!["stats", "--json"],
        vec!["payload", &hash],
        vec!["verify"],
        vec!["diff", "long", "long"],
    ];
    for args in &commands {
        for read_first in [false, true] {
            let (code, stderr) = run_with_early_close(dir.path(), &store, args, false, read_first);
            assert_eq!(
                code,
                Some(0),
                "{args:?} (read first: {read_first}): {stderr}"
            );
            assert!(
                stderr.is_empty(),
                "{args:?} (read first: {read_first}): {stderr}"
            );
        }
    }
    // `demo --out -` prints its summary on standard error: a reader that
    // closes that pipe early must not turn into a panic (exit 101) either.
    for read_first in [false, true] {
        let args = ["demo", "--out", "-"];
        let (code, _) = run_with_early_close(dir.path(), &store, &args, true, read_first);
        assert_eq!(code, Some(0), "{args:?} with standard error closed");
    }
    // So does an error whose `error:` line has no reader left.
    let (code, _) = run_with_early_close(dir.path(), &store, &["reduce", "nope"], true, false);
    assert_eq!(code, Some(2));
}
