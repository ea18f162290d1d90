//! Integration tests: a store on a read-only file system or a full disk
//! (issue 13, point 3).
//!
//! sled 0.34.7 opens its database file for writing and writes up to one
//! 512 KiB segment on every open, even to read, so neither store can be
//! opened; the error must name the real cause and what to do, never suggest
//! damage. Both cases run for real on a small tmpfs mounted in a private
//! mount namespace (`unshare -m`), which needs root, as CI has; elsewhere the
//! tests say so on stderr and check nothing. The namespace, and every mount
//! in it, ends with the `unshare` process; the script also unmounts.

use std::process::Command;

use crate::support::{example, seeded_store};

/// Whether this process can mount a tmpfs in a private mount namespace.
fn can_mount(test: &str) -> bool {
    let probe = tempfile::tempdir().expect("tempdir");
    let mounted = Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs -o size=64k tmpfs \"$1\" && umount \"$1\"",
        ])
        .arg("probe")
        .arg(probe.path())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|status| status.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!(
            "{test}: unshare/mount unavailable (not root?), so this case is not run here; CI runs it as root"
        );
    }
    mounted
}

/// The outcome of one command run inside the namespace.
#[derive(Debug)]
struct Run {
    code: String,
    stdout: String,
    stderr: String,
}

/// Runs `setup` (shell, with `$MNT` a fresh 4 MiB tmpfs holding a copy of
/// the seeded store at `$MNT/store`, and `$SAMPLE` the example JSONL), then
/// each step of `steps` inside one private mount namespace: tracefold
/// arguments, whose outcome is returned, or, after `sh:`, a shell command
/// run between them.
fn in_namespace(setup: &str, steps: &[&str]) -> Vec<Run> {
    let (dir, store, _) = seeded_store();
    let mnt = dir.path().join("mnt");
    let out = dir.path().join("out");
    std::fs::create_dir(&mnt).expect("mkdir");
    std::fs::create_dir(&out).expect("mkdir");
    let mut script = String::from(
        "set -u\nmount -t tmpfs -o size=4m tmpfs \"$MNT\" || exit 90\ncp -a \"$SEED\" \"$MNT/store\" || { umount \"$MNT\"; exit 91; }\n",
    );
    script.push_str(setup);
    script.push('\n');
    let mut runs = 0;
    for step in steps {
        if let Some(shell) = step.strip_prefix("sh:") {
            script.push_str(shell);
            script.push('\n');
            continue;
        }
        script.push_str(&format!(
            "\"$TF\" {step} >\"$OUT/{runs}.out\" 2>\"$OUT/{runs}.err\"; echo $? >\"$OUT/{runs}.code\"\n"
        ));
        runs += 1;
    }
    script.push_str("umount \"$MNT\"\n");
    let status = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .env("MNT", &mnt)
        .env("SEED", &store)
        .env("OUT", &out)
        .env("SAMPLE", example("sample.jsonl"))
        .env("TF", env!("CARGO_BIN_EXE_tracefold"))
        .env_remove("TRACEFOLD_STORE")
        .status()
        .expect("unshare runs");
    assert!(status.success(), "the namespace script failed: {status}");
    // Nothing stays mounted outside the namespace.
    assert_eq!(std::fs::read_dir(&mnt).expect("read").count(), 0);
    let read = |index: usize, ext: &str| {
        std::fs::read_to_string(out.join(format!("{index}.{ext}"))).expect("output")
    };
    (0..runs)
        .map(|index| Run {
            code: read(index, "code").trim().to_string(),
            stdout: read(index, "out"),
            stderr: read(index, "err"),
        })
        .collect()
}

fn assert_names_the_cause(run: &Run, cause: &str, advice: &str) {
    assert_eq!(run.code, "2", "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(run.stderr.contains(cause), "{run:?}");
    assert!(run.stderr.contains(advice), "{run:?}");
    for damage in ["damaged", "backup", "corrupt", "panicked"] {
        assert!(!run.stderr.contains(damage), "{run:?}");
    }
}

#[test]
fn a_store_on_a_read_only_file_system_fails_naming_the_cause_and_what_to_do() {
    if !can_mount("a_store_on_a_read_only_file_system_fails_naming_the_cause_and_what_to_do") {
        return;
    }
    let runs = in_namespace(
        "mount -o remount,ro \"$MNT\" || { umount \"$MNT\"; exit 92; }",
        &[
            "--store \"$MNT/store\" rollouts",
            "--store \"$MNT/store\" verify",
            "--store \"$MNT/store\" events rollout-example",
            "--store \"$MNT/store\" stats --json",
            "--store \"$MNT/elsewhere\" rollouts",
            "--store \"$MNT/new\" ingest \"$SAMPLE\"",
        ],
    );
    for run in &runs[..4] {
        assert_names_the_cause(
            run,
            "Read-only file system",
            "copy the store directory to a writable file system",
        );
        assert!(run.stdout.is_empty(), "{run:?}");
    }
    assert_eq!(runs[4].code, "2");
    assert!(
        runs[4].stderr.starts_with("error: no store at "),
        "{:?}",
        runs[4]
    );
    assert_names_the_cause(&runs[5], "Read-only file system", "read-only");
}

#[test]
fn a_store_on_a_full_disk_reads_or_fails_naming_the_cause_and_opens_once_space_is_freed() {
    if !can_mount(
        "a_store_on_a_full_disk_reads_or_fails_naming_the_cause_and_opens_once_space_is_freed",
    ) {
        return;
    }
    // `fresh` was written by a recorder (a host's process, which does not
    // checkpoint), so sled still has to zero-fill the rest of its segment
    // and write its snapshot on the next open. The seeded store was opened
    // again after its last write, and `ingest` checkpoints (reopens the
    // database at its end): both have nothing left to write on an open.
    let runs = in_namespace(
        "\"$TF\" --store \"$MNT/fresh\" __crash-writer --threads 1 --rollouts 1 --events-per-thread 5 --big-one-in 0 --pause-ms 0 >/dev/null || { umount \"$MNT\"; exit 92; }\n\
         \"$TF\" --store \"$MNT/ingested\" ingest \"$SAMPLE\" >/dev/null 2>&1 || { umount \"$MNT\"; exit 94; }\n\
         dd if=/dev/zero of=\"$MNT/fill\" bs=4k 2>/dev/null; test \"$(df -k \"$MNT\" | awk 'NR==2 {print $4}')\" -eq 0 || { umount \"$MNT\"; exit 93; }",
        &[
            "--store \"$MNT/store\" rollouts",
            "--store \"$MNT/store\" verify",
            "--store \"$MNT/fresh\" rollouts",
            "--store \"$MNT/fresh\" verify",
            "--store \"$MNT/fresh\" events crash-0",
            "--store \"$MNT/ingested\" verify",
            // Free the space: the fresh store opens and is sound.
            "sh:rm \"$MNT/fill\"",
            "--store \"$MNT/fresh\" verify",
        ],
    );
    assert_eq!(runs[0].code, "0", "{:?}", runs[0]);
    assert!(runs[0].stdout.contains("rollout-example"), "{:?}", runs[0]);
    for run in [&runs[1], &runs[5], &runs[6]] {
        assert_eq!(run.code, "0", "{run:?}");
        assert!(run.stdout.contains("is sound"), "{run:?}");
    }
    for run in &runs[2..5] {
        assert_names_the_cause(run, "No space left on device", "free at least 512 KiB");
    }
}
