//! Storage format 2 (issue 16, "Targets"): what the store takes on disk
//! against `tar | zstd --long` of the same rollouts as reference bundles,
//! how fast one payload reads back from the hot tier and from the pack, how
//! fast a rollout reduces from the store against its bundle in memory, what
//! an import costs against `tar | zstd -3`, and what a compaction costs.
//!
//! `cargo bench --bench storage` runs every section and ends with a
//! markdown summary of every figure from that one run (what BENCHMARKS.md
//! records, with the commit it ran at). A filter naming sections, `|`
//! between them, runs only those (`cargo bench --bench storage --
//! 'sizes|reads'`; criterion reads the same filter as a regex):
//!
//! - `sizes` (printed, not timed): the 200-turn demo (`tracefold demo
//!   --turns 200 --agents 3 --compact-at 409600 --seed 7`, run through the
//!   library into a fresh store) and ten 30-turn demos (seeds 1 to 10) in
//!   one store: the store directory as the demo left it and after
//!   `Store::compact` (sum of file sizes and `du -sb`, checked to agree),
//!   against `tar cf - BUNDLES | zstd -3 --long=27` and `-19` of the same
//!   rollouts exported as reference bundles (`write_bundle`, the body of
//!   `tracefold export --format codex-bundle`). The compacted store must
//!   verify clean, or the bench stops.
//! - `compact` (criterion): `Store::compact` of both stores, each sample on
//!   a fresh copy of the store as the demo left it.
//! - `reads` (criterion for the mean, and a printed p50/p99 over 10,000
//!   random reads timed one by one): `read_payload` of random payloads of a
//!   store of 100,000 distinct 512-byte payloads (a generated JSONL
//!   ingested as `tracefold ingest` does), hot and then compacted; and of
//!   the 200-turn demo's payloads (large, delta-encoded), hot and packed.
//!   The files are in the page cache: a read from a cold disk adds its I/O.
//! - `reduce` (criterion, and printed medians of five runs, wall and
//!   on-CPU time, the verdicts on the latter): the 200-turn rollout reduced
//!   from the compacted store, from the hot store, and from its bundle read
//!   into memory beforehand (`reduce_loaded`; the seqs the export left out
//!   are read back as `events_dropped` records, so both fold as many
//!   events).
//! - `import` (printed medians of three runs, wall and CPU time):
//!   `import_bundle` of the 200-turn bundle into a fresh store, against
//!   `tar cf - bundle | zstd -3 --long=27` of the same directory.
//!
//! `TRACEFOLD_STORAGE_TURNS` (default 200) and `TRACEFOLD_STORAGE_PAYLOADS`
//! (default 100000) shrink the workloads for a quick look.

// Bench code states its expectations with `expect`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/disk.rs"]
mod disk;
#[path = "common/synthetic_jsonl.rs"]
mod synthetic_jsonl;

// The `tracefold` binary's allocator, so the figures are the CLI's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::cell::OnceCell;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use tempfile::TempDir;
use tracefold::demo::{DemoConfig, run};
use tracefold::event::Hash;
use tracefold::{
    BundleOptions, CompactReport, IMPORT_CACHE_CAPACITY_BYTES, IngestOptions, JsonlSource,
    Recorder, RecorderConfig, Store, StoreOptions, import_bundle, ingest_jsonl, read_bundle,
    reduce_loaded, reduce_stored, write_bundle,
};

use disk::{DirSize, copy_dir, dir_size, tar_zstd, thousands};

/// Issue 16's own figures for the 200-turn demo before format 2 (its
/// "Where we stand" table), quoted beside ours.
const ISSUE_STORE_DU_SB: u64 = 6_321_709;
const ISSUE_ZSTD_3: u64 = 462_002;
const ISSUE_ZSTD_19: u64 = 354_621;
/// Issue 16's "today" for reduce from the store on the 200-turn rollout.
const ISSUE_REDUCE_EVENTS_PER_S: f64 = 7_800.0;

/// The demo's compaction threshold in the issue's command (`--compact-at`).
const COMPACT_AT: usize = 409_600;
const READS: usize = 10_000;
const SYNTHETIC_PAYLOAD_BYTES: usize = 512;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Demo rollouts recorded into one store, compacted, and exported.
struct DemoStores {
    /// What the bench's tables call it.
    label: String,
    dir: TempDir,
    /// The store as the demo left it (closed): the hot tier only.
    hot: PathBuf,
    /// A copy of it after `Store::compact`.
    packed: PathBuf,
    /// The reference bundles, one directory per rollout id.
    bundles: PathBuf,
    rollout_ids: Vec<String>,
    events: u64,
    logical_payload_bytes: u64,
    hot_size: DirSize,
    packed_size: DirSize,
    compact_time: Duration,
    compact: CompactReport,
}

impl DemoStores {
    fn build(label: String, configs: &[DemoConfig]) -> DemoStores {
        let dir = tempfile::tempdir().expect("tempdir");
        let hot = dir.path().join("hot-store");
        let packed = dir.path().join("packed-store");
        let bundles = dir.path().join("bundles");
        let mut rollout_ids = Vec::new();
        {
            let store = Store::open(&hot, StoreOptions::default()).expect("store");
            for config in configs {
                let recorder = Recorder::start(&store, RecorderConfig::default()).expect("rec");
                rollout_ids.push(run(&recorder, *config).rollout_id);
                recorder.shutdown().expect("shutdown");
            }
        }
        rollout_ids.sort();
        let hot_size = dir_size(&hot);
        copy_dir(&hot, &packed);
        let store = Store::open(&packed, StoreOptions::default()).expect("open copy");
        let started = Instant::now();
        let (store, compact) = store.compact().expect("compact");
        let compact_time = started.elapsed();
        let findings = store.verify().expect("verify");
        assert!(findings.is_empty(), "compacted store: {findings:?}");
        let (mut events, mut logical_payload_bytes) = (0, 0);
        std::fs::create_dir_all(&bundles).expect("bundles dir");
        for id in &rollout_ids {
            let manifest = store.manifest(id).expect("manifest");
            events += manifest.event_count;
            logical_payload_bytes += manifest.logical_payload_bytes;
            write_bundle(&store, id, &bundles.join(id), BundleOptions::default()).expect("export");
        }
        drop(store);
        let packed_size = dir_size(&packed);
        DemoStores {
            label,
            dir,
            hot,
            packed,
            bundles,
            rollout_ids,
            events,
            logical_payload_bytes,
            hot_size,
            packed_size,
            compact_time,
            compact,
        }
    }

    fn bundle_dir(&self) -> PathBuf {
        self.bundles.join(&self.rollout_ids[0])
    }
}

fn demo_config(turns: u32, seed: u64) -> DemoConfig {
    DemoConfig {
        turns,
        agents: 3,
        seed,
        compaction_threshold_bytes: COMPACT_AT,
    }
}

/// The markdown the run ends with.
#[derive(Default)]
struct Summary {
    sections: Vec<String>,
}

impl Summary {
    fn add(&mut self, text: String) {
        println!("\n{text}");
        self.sections.push(text);
    }

    fn print(&self) {
        if self.sections.is_empty() {
            return;
        }
        println!("\n== storage summary ({})\n", provenance());
        for section in &self.sections {
            println!("{section}\n");
        }
    }
}

/// The commit the bench ran at (`+dirty` with uncommitted changes), the
/// date and the load average: what a recorded figure needs beside it.
fn provenance() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|status| !status.is_empty());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    format!(
        "commit {commit}{}, load average {load}",
        if dirty { "+dirty" } else { "" }
    )
}

fn ratio(a: u64, b: u64) -> String {
    format!("{:.2}x", a as f64 / b.max(1) as f64)
}

fn verdict(met: bool, how: String) -> String {
    if met {
        format!("met ({how})")
    } else {
        format!("**missed** ({how})")
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn sizes(summary: &mut Summary, workloads: &[&DemoStores]) {
    let mut table = String::from(
        "### Disk (bytes; stores and bundles as `du -sb`)\n\n\
         | workload | events | bundle | tar\\|zstd -3 --long=27 | tar\\|zstd -19 --long=27 | store as recorded | store compacted | recorded / zstd -19 | compacted / zstd -19 | compacted / zstd -3 | target: compacted ≤ zstd -19 |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let mut details = String::from(
        "| workload | logical payload bytes | store as recorded: files | compacted: files | pack file | rest (sled, lock) | stream bytes packed | compaction (one run) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for stores in workloads {
        let name = &stores.label;
        let bundle = dir_size(&stores.bundles).du_sb;
        let (zstd3, _) = tar_zstd(&stores.bundles, &stores.rollout_ids, 3);
        let (zstd19, _) = tar_zstd(&stores.bundles, &stores.rollout_ids, 19);
        let (hot, packed) = (stores.hot_size.du_sb, stores.packed_size.du_sb);
        table.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            thousands(stores.events),
            thousands(bundle),
            thousands(zstd3),
            thousands(zstd19),
            thousands(hot),
            thousands(packed),
            ratio(hot, zstd19),
            ratio(packed, zstd19),
            ratio(packed, zstd3),
            if packed <= zstd19 {
                verdict(true, format!("{} bytes under", thousands(zstd19 - packed)))
            } else {
                verdict(false, format!("{} bytes over", thousands(packed - zstd19)))
            },
        ));
        let pack = stores.compact.pack_bytes;
        details.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {:.2} s |\n",
            thousands(stores.logical_payload_bytes),
            thousands(stores.hot_size.files),
            thousands(stores.packed_size.files),
            thousands(pack),
            thousands(stores.packed_size.files - pack),
            thousands(stores.compact.stream_bytes),
            stores.compact_time.as_secs_f64(),
        ));
    }
    table.push_str(&format!(
        "| issue 16's figures (200-turn, format 1, quoted) | 3,307 | 94 MB | {} | {} | {} | n/a | {} | n/a | n/a | n/a |\n",
        thousands(ISSUE_ZSTD_3),
        thousands(ISSUE_ZSTD_19),
        thousands(ISSUE_STORE_DU_SB),
        ratio(ISSUE_STORE_DU_SB, ISSUE_ZSTD_19),
    ));
    summary.add(format!("{table}\n{details}"));
}

fn bench_compact(c: &mut Criterion, workloads: &[(&str, &DemoStores)]) {
    let mut group = c.benchmark_group("compact");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(40));
    for (name, stores) in workloads {
        group.bench_function(*name, |b| {
            b.iter_custom(|iterations| {
                let mut timed = Duration::ZERO;
                for _ in 0..iterations {
                    let scratch = tempfile::tempdir_in(stores.dir.path()).expect("tempdir");
                    let copy = scratch.path().join("store");
                    copy_dir(&stores.hot, &copy);
                    let store = Store::open(&copy, StoreOptions::default()).expect("open");
                    let started = Instant::now();
                    let compacted = store.compact().expect("compact");
                    timed += started.elapsed();
                    drop(black_box(compacted));
                }
                timed
            });
        });
    }
    group.finish();
}

/// Latencies of single reads, sorted.
struct Latencies {
    first: Duration,
    sorted: Vec<Duration>,
    bytes: u64,
}

impl Latencies {
    /// Nearest-rank percentile.
    fn at(&self, q: f64) -> Duration {
        let rank = ((q * self.sorted.len() as f64).ceil() as usize).max(1);
        self.sorted[rank - 1]
    }

    fn mean(&self) -> Duration {
        self.sorted.iter().sum::<Duration>() / self.sorted.len().max(1) as u32
    }
}

/// A deterministic stream of indices below `len` (xorshift64).
struct Picker {
    state: u64,
}

impl Picker {
    fn new(seed: u64) -> Picker {
        Picker {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    fn next(&mut self, len: usize) -> usize {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state % len as u64) as usize
    }
}

/// Opens the store at `path` and times `READS` reads of random payloads
/// one by one (the first read after the open reported apart too).
fn read_latencies(path: &Path, hashes: &[Hash]) -> Latencies {
    let store = Store::open(path, StoreOptions::default()).expect("open");
    let mut picker = Picker::new(42);
    let timed = |picker: &mut Picker| {
        let hash = &hashes[picker.next(hashes.len())];
        let started = Instant::now();
        let bytes = black_box(store.read_payload(hash).expect("payload"));
        (started.elapsed(), bytes.len() as u64)
    };
    let (first, _) = timed(&mut picker);
    let mut sorted = Vec::with_capacity(READS);
    let mut bytes = 0;
    for _ in 0..READS {
        let (elapsed, len) = timed(&mut picker);
        sorted.push(elapsed);
        bytes += len;
    }
    sorted.sort_unstable();
    Latencies {
        first,
        sorted,
        bytes,
    }
}

fn criterion_reads(c: &mut Criterion, name: &str, path: &Path, hashes: &[Hash]) {
    let store = Store::open(path, StoreOptions::default()).expect("open");
    let mut group = c.benchmark_group("read_payload");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    let mut picker = Picker::new(7);
    group.bench_function(name, |b| {
        b.iter(|| black_box(store.read_payload(&hashes[picker.next(hashes.len())])))
    });
    group.finish();
}

/// The distinct payloads the store's rollouts cite.
fn cited_payloads(path: &Path) -> Vec<Hash> {
    let store = Store::open(path, StoreOptions::default()).expect("open");
    let mut hashes = Vec::new();
    for manifest in store.rollouts().expect("rollouts") {
        for event in store.events_of(&manifest) {
            let event = event.expect("event");
            event.payload.for_each_ref(|r| hashes.push(r.hash));
        }
    }
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// A store of `payloads` distinct synthetic payloads, ingested as
/// `tracefold ingest` does (64 MiB sled cache), not compacted.
fn synthetic_store(dir: &Path, payloads: u64) -> PathBuf {
    let input = dir.join("input.jsonl");
    synthetic_jsonl::write_synthetic_jsonl(&input, payloads, payloads, SYNTHETIC_PAYLOAD_BYTES)
        .expect("write input");
    let path = dir.join("store");
    let options = StoreOptions {
        cache_capacity_bytes: IMPORT_CACHE_CAPACITY_BYTES,
        ..StoreOptions::default()
    };
    let store = Store::open(&path, options).expect("open");
    let source = JsonlSource::file(&input).expect("input");
    ingest_jsonl(&store, source, &IngestOptions::default()).expect("ingest");
    drop(store);
    std::fs::remove_file(&input).expect("remove input");
    path
}

fn reads(c: &mut Criterion, summary: &mut Summary, demo: &DemoStores) {
    let payloads = env_number("TRACEFOLD_STORAGE_PAYLOADS", 100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = synthetic_store(dir.path(), payloads);
    let hashes = cited_payloads(&path);
    let synthetic = format!("{} synthetic payloads", thousands(hashes.len() as u64));
    let mut rows = Vec::new();
    let hot = read_latencies(&path, &hashes);
    criterion_reads(c, "synthetic_hot", &path, &hashes);
    rows.push((synthetic.clone(), "hot (sled)", hot));
    let started = Instant::now();
    let store = Store::open(&path, StoreOptions::default()).expect("open");
    let (store, report) = store.compact().expect("compact");
    let compact_time = started.elapsed();
    drop(store);
    let packed = read_latencies(&path, &hashes);
    criterion_reads(c, "synthetic_pack", &path, &hashes);
    rows.push((synthetic.clone(), "pack", packed));
    drop(dir);

    let demo_hashes = cited_payloads(&demo.hot);
    let demo_name = format!("{}, {} payloads", demo.label, demo_hashes.len());
    rows.push((
        demo_name.clone(),
        "hot (sled)",
        read_latencies(&demo.hot, &demo_hashes),
    ));
    criterion_reads(c, "demo_hot", &demo.hot, &demo_hashes);
    rows.push((
        demo_name,
        "pack",
        read_latencies(&demo.packed, &demo_hashes),
    ));
    criterion_reads(c, "demo_pack", &demo.packed, &demo_hashes);

    let mut table = format!(
        "### Reads: `read_payload` of {} random payloads, timed one by one\n\n\
         | store | tier | first read after open | p50 | p99 | max | mean | mean payload | target: p50 ≤ 1 ms, p99 ≤ 10 ms |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---|\n",
        thousands(READS as u64)
    );
    for (store, tier, lat) in &rows {
        let (p50, p99) = (lat.at(0.50), lat.at(0.99));
        let met = p50 <= Duration::from_millis(1) && p99 <= Duration::from_millis(10);
        table.push_str(&format!(
            "| {store} | {tier} | {} | {} | {} | {} | {} | {} B | {} |\n",
            ms(lat.first),
            ms(p50),
            ms(p99),
            ms(lat.sorted[lat.sorted.len() - 1]),
            ms(lat.mean()),
            thousands(lat.bytes / READS as u64),
            verdict(met, format!("p50 {}, p99 {}", ms(p50), ms(p99))),
        ));
    }
    table.push_str(&format!(
        "\nCompacting the {synthetic} store: {:.1} s, {} stream bytes into a {}-byte pack; disk {} -> {} bytes.",
        compact_time.as_secs_f64(),
        thousands(report.stream_bytes),
        thousands(report.pack_bytes),
        thousands(report.disk_bytes_before),
        thousands(report.disk_bytes_after),
    ));
    summary.add(table);
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort_unstable();
    runs[runs.len() / 2]
}

fn reduce(c: &mut Criterion, summary: &mut Summary, demo: &DemoStores) {
    let id = &demo.rollout_ids[0];
    let packed = Store::open(&demo.packed, StoreOptions::default()).expect("open packed");
    let hot = Store::open(&demo.hot, StoreOptions::default()).expect("open hot");
    let bundle = read_bundle(&demo.bundle_dir(), &IngestOptions::default()).expect("bundle");
    let logical = demo.logical_payload_bytes as f64;
    let sources: [(&str, &str, &dyn Fn() -> usize, u64); 3] = [
        (
            "store, compacted (pack)",
            "store_pack",
            &|| {
                reduce_stored(&packed, id)
                    .expect("reduce")
                    .raw_payloads
                    .len()
            },
            demo.events,
        ),
        (
            "store, as recorded (hot)",
            "store_hot",
            &|| reduce_stored(&hot, id).expect("reduce").raw_payloads.len(),
            demo.events,
        ),
        (
            "bundle in memory (`reduce_loaded`)",
            "bundle_in_memory",
            &|| reduce_loaded(&bundle).expect("reduce").raw_payloads.len(),
            bundle.events.len() as u64,
        ),
    ];
    let mut table = format!(
        "### Reduce of the {} rollout (medians of 5 runs)\n\n\
         | source | events | wall | on-CPU | events/s (on-CPU) | logical payload MB/s (on-CPU) |\n\
         |---|---:|---:|---:|---:|---:|\n",
        demo.label
    );
    // Verdicts on on-CPU time: on a shared machine, wall time includes
    // waiting for a core (the fold is one thread).
    let mut cpu = Vec::new();
    for (name, _, reduce_once, events) in &sources {
        let runs: Vec<(Duration, Duration)> = (0..5).map(|_| timed(*reduce_once)).collect();
        let wall = median(runs.iter().map(|run| run.0).collect());
        let on_cpu = median(runs.iter().map(|run| run.1).collect());
        cpu.push(on_cpu);
        table.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {:.1} |\n",
            thousands(*events),
            ms(wall),
            ms(on_cpu),
            thousands((*events as f64 / on_cpu.as_secs_f64()) as u64),
            logical / 1e6 / on_cpu.as_secs_f64(),
        ));
    }
    let store_rate = demo.events as f64 / cpu[0].as_secs_f64();
    let hot_rate = demo.events as f64 / cpu[1].as_secs_f64();
    table.push_str(&format!(
        "\nOn-CPU time, store (pack) / bundle: {:.2}; target \"no slower than the bundle\": {}. \
         Target \"at least 3x today's 7,800 events/s\" (issue 16's figure, its own run): \
         the pack gives {:.2}x that, {}; against the hot tier in this run (format 1's \
         records), {:.2}x.",
        cpu[0].as_secs_f64() / cpu[2].as_secs_f64(),
        verdict(cpu[0] <= cpu[2], "on-CPU time".into()),
        store_rate / ISSUE_REDUCE_EVENTS_PER_S,
        verdict(
            store_rate >= 3.0 * ISSUE_REDUCE_EVENTS_PER_S,
            format!("{} events/s", thousands(store_rate as u64))
        ),
        store_rate / hot_rate,
    ));
    summary.add(table);

    let mut group = c.benchmark_group("reduce_demo");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(10));
    for (_, id, reduce_once, events) in &sources {
        group.throughput(Throughput::Elements(*events));
        group.bench_function(*id, |b| b.iter(|| black_box(reduce_once())));
    }
    group.finish();
}

/// Wall and on-CPU time of one call of `f` on this thread.
fn timed(f: &dyn Fn() -> usize) -> (Duration, Duration) {
    let (started, cpu) = (Instant::now(), thread_cpu());
    black_box(f());
    (started.elapsed(), thread_cpu().saturating_sub(cpu))
}

/// Time the calling thread has spent on a CPU (Linux: the first field of
/// `/proc/thread-self/schedstat`, in nanoseconds; zero elsewhere).
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

/// CPU time (user + system) of this process's threads, and of its children
/// waited for, from `/proc/self/stat` (in USER_HZ ticks, 100 per second on
/// Linux); zero elsewhere.
fn process_cpu() -> (Duration, Duration) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which ends with the last ')': state is
    // field 3, utime 14, stime 15, cutime 16, cstime 17.
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    let ticks = |i: usize| fields.get(i).copied().unwrap_or(0);
    let time = |t: u64| Duration::from_millis(t * 10);
    (time(ticks(11) + ticks(12)), time(ticks(13) + ticks(14)))
}

fn import(summary: &mut Summary, demo: &DemoStores) {
    let bundle_dir = demo.bundle_dir();
    let bundle_bytes = dir_size(&bundle_dir).files as f64;
    let tar_runs: Vec<(Duration, Duration)> = (0..3)
        .map(|_| {
            let (_, children) = process_cpu();
            let (_, wall) = tar_zstd(&demo.bundles, &demo.rollout_ids[..1], 3);
            (wall, process_cpu().1.saturating_sub(children))
        })
        .collect();
    let import_runs: Vec<(Duration, Duration)> = (0..3)
        .map(|_| {
            let dir = tempfile::tempdir().expect("tempdir");
            let options = StoreOptions {
                cache_capacity_bytes: IMPORT_CACHE_CAPACITY_BYTES,
                ..StoreOptions::default()
            };
            let store = Store::open(dir.path(), options).expect("open");
            let (started, (cpu, _)) = (Instant::now(), process_cpu());
            import_bundle(&store, &bundle_dir, None, &IngestOptions::default()).expect("import");
            (started.elapsed(), process_cpu().0.saturating_sub(cpu))
        })
        .collect();
    let medians = |runs: &[(Duration, Duration)]| {
        (
            median(runs.iter().map(|run| run.0).collect()),
            median(runs.iter().map(|run| run.1).collect()),
        )
    };
    let (import_wall, import_cpu) = medians(&import_runs);
    let (tar_wall, tar_cpu) = medians(&tar_runs);
    let rate = |d: Duration| bundle_bytes / 1e6 / d.as_secs_f64();
    let wall_ratio = tar_wall.as_secs_f64() / import_wall.as_secs_f64();
    summary.add(format!(
        "### Writes: importing the {} bundle ({} bytes; medians of 3)\n\n\
         | what | wall | MB/s of bundle (wall) | CPU (all threads or processes) |\n\
         |---|---:|---:|---:|\n\
         | `import_bundle` into a fresh store (redaction on, as `import-codex`) | {} | {:.1} | {} |\n\
         | `tar cf - bundle \\| zstd -3 --long=27` | {} | {:.1} | {} |\n\n\
         Import throughput / tar|zstd -3 throughput (wall): {:.2}; target ≥ 0.5: {}. \
         CPU time, tar|zstd -3 / import: {:.2}.",
        demo.label,
        thousands(bundle_bytes as u64),
        ms(import_wall),
        rate(import_wall),
        ms(import_cpu),
        ms(tar_wall),
        rate(tar_wall),
        ms(tar_cpu),
        wall_ratio,
        verdict(
            wall_ratio >= 0.5,
            format!("import {:.1}x slower", 1.0 / wall_ratio)
        ),
        tar_cpu.as_secs_f64() / import_cpu.as_secs_f64(),
    ));
}

/// Section names the command line asks for (criterion's own options and
/// their values left out); empty: all of them.
fn filters() -> Vec<String> {
    const WITH_VALUE: &[&str] = &[
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--measurement-time",
        "--warm-up-time",
        "--sample-size",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--profile-time",
        "--output-format",
        "--color",
        "--plotting-backend",
        "--format",
        "--logfile",
        "-s",
        "-b",
        "-c",
    ];
    let mut filters = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if WITH_VALUE.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            filters.extend(arg.split('|').map(str::to_string));
        }
    }
    filters
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let filters = filters();
    let wanted = |section: &str| {
        filters.is_empty()
            || filters
                .iter()
                .any(|filter| section.contains(filter.as_str()) || filter.starts_with(section))
    };
    let turns = env_number("TRACEFOLD_STORAGE_TURNS", 200) as u32;
    let long = OnceCell::new();
    let long_name = format!("{turns}-turn demo (seed 7)");
    let long =
        || long.get_or_init(|| DemoStores::build(long_name.clone(), &[demo_config(turns, 7)]));
    let ten = OnceCell::new();
    let ten = || {
        ten.get_or_init(|| {
            let configs: Vec<_> = (1..=10).map(|seed| demo_config(30, seed)).collect();
            DemoStores::build("ten 30-turn demos (seeds 1-10)".into(), &configs)
        })
    };
    let mut summary = Summary::default();
    if wanted("sizes") {
        sizes(&mut summary, &[long(), ten()]);
    }
    if wanted("compact") {
        let long_id = format!("demo_{turns}turn");
        bench_compact(
            &mut criterion,
            &[(long_id.as_str(), long()), ("demo_10x30turn", ten())],
        );
    }
    if wanted("reads") {
        reads(&mut criterion, &mut summary, long());
    }
    if wanted("reduce") {
        reduce(&mut criterion, &mut summary, long());
    }
    if wanted("import") {
        import(&mut summary, long());
    }
    summary.print();
    criterion.final_summary();
}
