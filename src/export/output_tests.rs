use std::io::Read;

use super::*;

use crate::test_files::file_names as names;

#[test]
fn a_streamed_write_replaces_the_target_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.json");
    std::fs::write(&path, "old").expect("seed");
    // More than the buffer, in many small writes.
    write_output(&path, |out| {
        for n in 0..300_000u32 {
            writeln!(out, "{n}")?;
        }
        Ok(())
    })
    .expect("write");
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(text.lines().count(), 300_000);
    assert_eq!(text.lines().last(), Some("299999"));
    assert_eq!(names(dir.path()), ["state.json"]);
}

#[test]
fn a_failed_streamed_write_leaves_the_target_and_no_temporary_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.json");
    std::fs::write(&path, "old").expect("seed");
    let err = write_output(&path, |out| {
        // Past the buffer, so part of it reached the temporary file.
        out.write_all(&vec![b'x'; 3 << 20])?;
        Err(std::io::Error::other("no space left (simulated)"))
    })
    .expect_err("the failure is reported");
    let message = err.to_string();
    assert!(message.contains("state.json"), "{message}");
    assert!(message.contains("no space left (simulated)"), "{message}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "old");
    assert_eq!(names(dir.path()), ["state.json"]);
}

#[cfg(unix)]
#[test]
fn a_replaced_regular_file_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.json");
    std::fs::write(&path, "old").expect("seed");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    write_output(&path, |out| out.write_all(b"new")).expect("write");
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
    assert_eq!(mode & 0o7777, 0o640);
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "new");
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_is_followed_and_stays_a_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("real")).expect("mkdir");
    let target = dir.path().join("real/state.json");
    std::fs::write(&target, "old").expect("seed");
    // A chain of two links, the first one relative.
    let middle = dir.path().join("middle");
    std::os::unix::fs::symlink(&target, &middle).expect("symlink");
    let link = dir.path().join("link");
    std::os::unix::fs::symlink("middle", &link).expect("symlink");
    write_output(&link, |out| out.write_all(b"new")).expect("write");
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("meta")
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::symlink_metadata(&middle)
            .expect("meta")
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "new");
    assert_eq!(names(&dir.path().join("real")), ["state.json"]);
}

#[cfg(unix)]
#[test]
fn a_dangling_link_creates_its_target() {
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("link");
    std::os::unix::fs::symlink("created.json", &link).expect("symlink");
    write_output(&link, |out| out.write_all(b"made")).expect("write");
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("meta")
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("created.json")).expect("read"),
        "made"
    );
}

#[cfg(unix)]
#[test]
fn a_link_loop_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a");
    std::os::unix::fs::symlink("b", &a).expect("symlink");
    std::os::unix::fs::symlink("a", dir.path().join("b")).expect("symlink");
    let err = write_output(&a, |out| out.write_all(b"x")).expect_err("a loop");
    let message = err.to_string();
    assert!(message.contains("levels of symbolic links"), "{message}");
    assert!(message.contains(&a.display().to_string()), "{message}");
}

#[test]
fn a_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = write_output(dir.path(), |out| out.write_all(b"x")).expect_err("a directory");
    let message = err.to_string();
    assert!(message.contains("is a directory"), "{message}");
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
}

#[cfg(unix)]
#[test]
fn a_socket_is_an_error_naming_it() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    let err = write_output(&path, |out| out.write_all(b"x")).expect_err("a socket");
    let message = err.to_string();
    assert!(message.contains("is a socket"), "{message}");
    assert!(
        std::fs::symlink_metadata(&path)
            .expect("still there")
            .file_type()
            .is_socket()
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_is_written_in_place_and_stays_a_fifo() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo");
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
    write_output(&fifo, |out| out.write_all(b"through the pipe")).expect("write");
    // Checked before joining: a replaced FIFO leaves the reader blocked.
    assert!(
        std::fs::symlink_metadata(&fifo)
            .expect("meta")
            .file_type()
            .is_fifo()
    );
    assert_eq!(reader.join().expect("reader"), "through the pipe");
    assert_eq!(names(dir.path()), ["fifo"]);
}

#[test]
fn a_missing_parent_directory_is_an_error_naming_the_target() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("absent/state.json");
    let err = write_output(&path, |out| out.write_all(b"x")).expect_err("no parent");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
}
