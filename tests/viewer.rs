//! `tracefold view`: the HTML page in real headless Chromium (Debian's
//! `chromium`, which `scripts/test` installs), driven over the DevTools
//! Protocol. A page opens from a file with no network; any console error,
//! uncaught exception or request to anything but the page itself fails the
//! test. On the 200-turn, 3-agent demo rollout the test clicks a child
//! thread, a call in its lane, a tool call and the compaction, steps with
//! the keyboard, filters, saves a screenshot under the test's output
//! directory and prints the page's size and time to interactive (the
//! figures BENCHMARKS.md records).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use headless_chrome::browser::tab::Tab;
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::{Log, Network, Runtime};
use headless_chrome::{Browser, LaunchOptions};
use serde_json::Value;

use crate::support::{ok, tracefold};

/// The Chromium to drive: `$CHROMIUM`, else the first of the usual names
/// on `PATH`.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "no Chromium on PATH (or in $CHROMIUM): the viewer's browser test needs one; \
         `scripts/test` installs Debian's `chromium`"
    );
}

/// A headless Chromium with its own profile, started with the flags that
/// keep it off the network.
struct Chromium {
    browser: Browser,
    _profile: tempfile::TempDir,
}

impl Chromium {
    fn start() -> Chromium {
        let profile = tempfile::tempdir().expect("profile dir");
        let args: Vec<&std::ffi::OsStr> = [
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ]
        .iter()
        .map(std::ffi::OsStr::new)
        .collect();
        let options = LaunchOptions::default_builder()
            .path(Some(chromium()))
            .headless(true)
            .sandbox(false)
            .user_data_dir(Some(profile.path().to_path_buf()))
            .window_size(Some((1600, 1000)))
            .idle_browser_timeout(Duration::from_secs(120))
            .args(args)
            .build()
            .expect("launch options");
        let browser = Browser::new(options).expect("start Chromium");
        Chromium {
            browser,
            _profile: profile,
        }
    }

    /// A tab on `page` once its script has drawn it, with what it logged.
    fn open(&self, page: &Path) -> Opened {
        let tab = self.browser.new_tab().expect("tab");
        let problems = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&problems);
        tab.add_event_listener(Arc::new(move |event: &Event| {
            let problem = match event {
                Event::RuntimeConsoleAPICalled(call)
                    if call.params.Type == Runtime::ConsoleAPICalledEventTypeOption::Error =>
                {
                    Some(format!("console.error: {:?}", call.params.args))
                }
                Event::RuntimeExceptionThrown(thrown) => Some(format!(
                    "exception: {:?}",
                    thrown.params.exception_details.text
                )),
                Event::LogEntryAdded(entry)
                    if entry.params.entry.level == Log::LogEntryLevel::Error =>
                {
                    Some(format!("log: {}", entry.params.entry.text))
                }
                Event::NetworkRequestWillBeSent(request) => {
                    let url = &request.params.request.url;
                    (!url.starts_with("file:") && !url.starts_with("data:"))
                        .then(|| format!("network request: {url}"))
                }
                _ => None,
            };
            if let Some(problem) = problem {
                seen.lock().expect("lock").push(problem);
            }
        }))
        .expect("listen");
        tab.enable_runtime().expect("runtime events");
        tab.enable_log().expect("log events");
        tab.call_method(Network::Enable {
            max_total_buffer_size: None,
            max_resource_buffer_size: None,
            max_post_data_size: None,
            report_direct_socket_traffic: None,
            enable_durable_messages: None,
        })
        .expect("network events");
        let url = format!("file://{}", page.display());
        let started = Instant::now();
        tab.navigate_to(&url).expect("navigate");
        tab.wait_until_navigated().expect("navigated");
        tab.wait_for_element_with_custom_timeout("html[data-ready='1']", Duration::from_secs(60))
            .expect("the page draws");
        let wall = started.elapsed();
        let interactive_ms = eval(&tab, "window.tracefoldReadyAt")
            .as_f64()
            .expect("ready time");
        Opened {
            tab,
            problems,
            interactive_ms,
            wall,
        }
    }
}

struct Opened {
    tab: Arc<Tab>,
    problems: Arc<Mutex<Vec<String>>>,
    /// `performance.now()` when the page was drawn: ms since navigation
    /// started.
    interactive_ms: f64,
    /// From the navigation command to the drawn page, as the test saw it.
    wall: Duration,
}

impl Opened {
    fn assert_clean(&self) {
        let problems = self.problems.lock().expect("lock");
        assert!(problems.is_empty(), "the page reported: {problems:#?}");
    }

    fn text(&self, selector: &str) -> String {
        eval(
            &self.tab,
            &format!(
                "document.querySelector({}).innerText",
                serde_json::to_string(selector).expect("json")
            ),
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    fn click(&self, selector: &str) {
        self.tab
            .wait_for_element(selector)
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .click()
            .unwrap_or_else(|e| panic!("click {selector}: {e}"));
    }

    fn click_xpath(&self, xpath: &str) {
        self.tab
            .find_element_by_xpath(xpath)
            .unwrap_or_else(|e| panic!("{xpath}: {e}"))
            .click()
            .unwrap_or_else(|e| panic!("click {xpath}: {e}"));
    }
}

/// The value of a JavaScript expression, through JSON (the protocol hands
/// back objects and arrays by reference otherwise).
fn eval(tab: &Tab, expression: &str) -> Value {
    let json = tab
        .evaluate(&format!("JSON.stringify({expression})"), false)
        .unwrap_or_else(|e| panic!("{expression}: {e}"))
        .value
        .unwrap_or(Value::Null);
    json.as_str()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null)
}

/// Where a test leaves what a person may want to look at.
fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("viewer");
    std::fs::create_dir_all(&dir).expect("output dir");
    dir
}

#[test]
fn the_demo_rollout_views_in_chromium_and_answers_clicks_keys_and_the_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let demo = ok(
        &store,
        &[
            "demo",
            "--turns",
            "200",
            "--agents",
            "3",
            "--compact-at",
            "409600",
            "--seed",
            "7",
            "--out",
            dir.path().join("state.json").to_str().expect("utf-8"),
        ],
    );
    let rollout = demo
        .split_whitespace()
        .nth(1)
        .expect("the demo names its rollout")
        .to_string();
    let view: Value =
        serde_json::from_str(&ok(&store, &["show", &rollout, "--json"])).expect("show --json");
    let thread_id = |path: &str| -> String {
        view["threads"]
            .as_array()
            .expect("threads")
            .iter()
            .find(|t| t["agent_path"] == path)
            .unwrap_or_else(|| panic!("thread {path}"))["thread_id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    let page = dir.path().join("demo.html");
    ok(
        &store,
        &["view", &rollout, "-o", page.to_str().expect("utf-8")],
    );
    let size = std::fs::metadata(&page).expect("page").len();
    assert!(size < 5_000_000, "the page is {size} bytes");

    let chromium = Chromium::start();
    let opened = chromium.open(&page);
    let marks = eval(
        &opened.tab,
        "performance.getEntriesByType('mark').map(m => m.name + ' ' + Math.round(m.startTime))",
    );
    println!(
        "viewer: 200-turn demo page {size} bytes, interactive {:.0} ms after navigation \
         ({} ms as the test saw it; marks {marks})",
        opened.interactive_ms,
        opened.wall.as_millis()
    );
    let headline = opened.text("#headline");
    assert!(headline.contains(&rollout), "{headline}");
    assert!(headline.contains("4 threads"), "{headline}");

    // A child thread in the tree, then the first call in its lane: the
    // conversation the child's model saw, every item new.
    let reviewer = thread_id("/root/reviewer1");
    opened.click(&format!("button.thread[data-thread='{reviewer}']"));
    let detail = opened.text("#detail");
    assert!(detail.contains("Thread /root/reviewer1"), "{detail}");
    let heads = eval(
        &opened.tab,
        "[...document.querySelectorAll('#lanes .lane-head:not(.seq)')].map(e => e.innerText)",
    );
    assert_eq!(heads, serde_json::json!(["/root/reviewer1"]));
    opened.click("#timeline .e.k-inference");
    let detail = opened.text("#detail");
    assert!(
        detail.contains("Inference call · gpt-5-codex-mini"),
        "{detail}"
    );
    assert!(
        detail.contains("You are a sub-agent. Do the task you are given and report back briefly."),
        "{detail}"
    );
    // (Headings are upper case on screen.)
    let lower = detail.to_lowercase();
    assert!(
        lower.contains("request: 2 items, 2 new since the thread's previous call"),
        "{detail}"
    );
    // Its answer: reasoning with its summary, the encrypted part marked.
    assert!(detail.contains("reasoning summary"), "{detail}");
    assert!(detail.contains("encrypted encrypted_content"), "{detail}");
    assert!(detail.contains("Done: "), "{detail}");

    // Back to every thread; the spawn tool call's output names the child.
    opened.click("button.thread[data-thread='']");
    opened.click_xpath("//div[contains(@class,'k-tool_call')][contains(., 'spawn_agent')]");
    let detail = opened.text("#detail");
    assert!(detail.contains("Tool call · spawn_agent"), "{detail}");
    assert!(
        detail.contains("\"nickname\":\"/root/reviewer1\""),
        "{detail}"
    );

    // The compaction: what it kept and what it replaced.
    opened.click("#timeline .e.k-compaction");
    let detail = opened.text("#detail");
    assert!(
        detail.contains("Compaction (remote)") || detail.contains("Compaction (local)"),
        "{detail}"
    );
    let lower = detail.to_lowercase();
    assert!(
        lower.contains("what the replacement kept (3 items)"),
        "{detail}"
    );
    assert!(lower.contains("what it replaced (898 items"), "{detail}");

    // j: the next call after the compaction, selected and shown; k: back
    // to the call before it.
    let selected = "(() => { const e = document.querySelector('#timeline .e.selected'); \
                    return e && [e.dataset.kind, Number(e.dataset.seq)]; })()";
    let compaction_seq = eval(&opened.tab, selected)[1].as_u64().expect("seq");
    opened.tab.press_key("j").expect("key");
    let next = eval(&opened.tab, selected);
    assert!(
        ["inference", "tool_call", "code_cell", "terminal"]
            .contains(&next[0].as_str().unwrap_or("")),
        "{next}"
    );
    assert!(next[1].as_u64().expect("seq") >= compaction_seq, "{next}");
    let shown = opened.text("#detail");
    assert!(!shown.starts_with("Compaction"), "{shown}");
    opened.tab.press_key("k").expect("key");
    opened.tab.press_key("k").expect("key");
    let before = eval(&opened.tab, selected);
    assert!(
        before[1].as_u64().expect("seq") < compaction_seq,
        "{before}"
    );

    // The filter keeps the matching rows only.
    opened.click("#filter");
    opened.tab.type_str("spawn_agent").expect("type");
    let shown = eval(
        &opened.tab,
        "[...document.querySelectorAll('#timeline .lrow:not(.hidden):not(.lane-heads) .e')].map(e => e.innerText)",
    );
    let shown = shown.as_array().expect("rows");
    assert!(!shown.is_empty() && shown.len() < 20, "{shown:?}");
    assert!(
        shown
            .iter()
            .all(|t| t.as_str().unwrap_or("").contains("spawn")),
        "{shown:?}"
    );
    opened.tab.press_key("Escape").expect("key");

    // The child's second call with only its new items: each one marked new.
    opened.click(&format!("button.thread[data-thread='{reviewer}']"));
    opened.click_xpath("(//div[contains(@class,'k-inference')])[2]");
    let all_items = eval(
        &opened.tab,
        "document.querySelectorAll('#detail .request .item').length",
    );
    opened.click("#detail h2 input[type=checkbox]");
    let new_items = eval(
        &opened.tab,
        "document.querySelectorAll('#detail .request .item').length",
    );
    let marked = eval(
        &opened.tab,
        "document.querySelectorAll('#detail .request .item.new').length",
    );
    assert_eq!(new_items, marked);
    assert!(
        new_items.as_u64().expect("count") < all_items.as_u64().expect("count"),
        "{new_items} of {all_items}"
    );

    let png = opened
        .tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("screenshot");
    std::fs::write(output_dir().join("demo.png"), png).expect("save the screenshot");
    opened.assert_clean();
}

#[test]
fn a_rollout_the_reducer_rejects_views_with_its_diagnostics_linked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/reference-tests")
        .join("reducer__conversation__tests__inference_start_rejects_unknown_codex_turn__11");
    let page = dir.path().join("rejected.html");
    ok(
        &dir.path().join("store"),
        &[
            "view",
            bundle.to_str().expect("utf-8"),
            "-o",
            page.to_str().expect("utf-8"),
        ],
    );
    let chromium = Chromium::start();
    let opened = chromium.open(&page);
    let side = opened.text("#side").to_lowercase();
    assert!(side.contains("diagnostics (1)"), "{side}");
    assert!(
        side.contains("seq 2: reduce_error: inference start inference-1 referenced unknown codex turn turn-missing"),
        "{side}"
    );
    opened.click(".diag");
    let detail = opened.text("#detail");
    assert!(detail.contains("Diagnostic · reduce_error"), "{detail}");
    assert!(
        detail.contains("referenced unknown codex turn turn-missing"),
        "{detail}"
    );
    opened.assert_clean();
}

#[test]
fn a_diff_page_opens_on_the_first_divergence_with_both_sides() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let mut rollouts = Vec::new();
    for (seed, name) in [("7", "a"), ("8", "b"), ("7", "c")] {
        let out = dir.path().join(format!("{name}.json"));
        let demo = ok(
            &store,
            &[
                "demo",
                "--seed",
                seed,
                "--out",
                out.to_str().expect("utf-8"),
            ],
        );
        rollouts.push(demo.split_whitespace().nth(1).expect("rollout").to_string());
    }
    // `diff` exits 1 on a divergence and names it on its first line.
    let diff = tracefold(&store, &["diff", &rollouts[0], &rollouts[1]]);
    assert_eq!(diff.status.code(), Some(1));
    let stdout = String::from_utf8(diff.stdout).expect("utf-8");
    let first = stdout
        .lines()
        .next()
        .expect("the first divergence")
        .to_string();
    let page = dir.path().join("diff.html");
    let path = page.to_str().expect("utf-8");
    ok(
        &store,
        &["view", "--diff", &rollouts[0], &rollouts[1], "-o", path],
    );

    let chromium = Chromium::start();
    let opened = chromium.open(&page);
    let verdict = opened.text("#side .verdict");
    assert!(verdict.starts_with("first divergence: "), "{verdict}");
    // The page's verdict is the CLI's, word for word.
    assert!(verdict.contains(first.trim()), "{verdict}\nvs\n{first}");
    let row = opened.text(".diffrow.selected");
    assert!(row.contains("differs"), "{row}");
    let detail = opened.text("#detail");
    assert!(detail.contains("A · rollout"), "{detail}");
    assert!(detail.contains("B · rollout"), "{detail}");
    assert!(
        detail.contains(&rollouts[0]) && detail.contains(&rollouts[1]),
        "{detail}"
    );
    // j: the next difference.
    opened.tab.press_key("j").expect("key");
    let next = opened.text(".diffrow.selected");
    assert_ne!(next, row);
    opened.assert_clean();

    // The same script recorded twice: equivalent, every row equal.
    let same = dir.path().join("same.html");
    let path = same.to_str().expect("utf-8");
    ok(
        &store,
        &["view", "--diff", &rollouts[0], &rollouts[2], "-o", path],
    );
    let opened = chromium.open(&same);
    assert_eq!(opened.text("#side .verdict"), "replay-equivalent");
    assert_eq!(
        eval(
            &opened.tab,
            "document.querySelectorAll('.diffrow.differs, .diffrow.only').length"
        ),
        serde_json::json!(0)
    );
    opened.assert_clean();
}

/// The data a page holds (gzip, base64, in the element `#data`).
fn page_data(page: &Path) -> Value {
    use base64::Engine;
    use std::io::Read;
    let html = std::fs::read_to_string(page).expect("page");
    let start = html.find("id=\"data\"").expect("the data element");
    let start = start + html[start..].find('>').expect("its tag") + 1;
    let end = start + html[start..].find("</script>").expect("its end");
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(html[start..end].trim())
        .expect("base64");
    let mut json = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut json)
        .expect("gzip");
    serde_json::from_str(&json).expect("JSON")
}

#[test]
fn the_page_holds_each_payload_once_and_every_request_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let state_path = dir.path().join("state.json");
    let demo = ok(
        &store,
        &[
            "demo",
            "--turns",
            "30",
            "--out",
            state_path.to_str().expect("utf-8"),
        ],
    );
    let rollout = demo.split_whitespace().nth(1).expect("rollout").to_string();
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).expect("state")).expect("JSON");
    let page = dir.path().join("page.html");
    let path = page.to_str().expect("utf-8");
    ok(
        &store,
        &["view", &rollout, "-o", path, "--max-body-bytes", "300"],
    );
    let data = page_data(&page);
    let data = &data["rollout"];

    // Payload bodies by BLAKE3: fewer than the payloads the state cites,
    // since calls cite the same bodies.
    let raw = state["raw_payloads"].as_object().expect("raw payloads");
    let mut hashes: Vec<&str> = raw
        .values()
        .map(|p| p["blake3"].as_str().expect("hash"))
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    let payloads = data["payloads"].as_object().expect("payloads");
    assert_eq!(payloads.len(), hashes.len());
    assert!(
        payloads.len() < raw.len(),
        "{} of {}",
        payloads.len(),
        raw.len()
    );
    for (hash, payload) in payloads {
        let kind = payload["kind"].as_str().expect("kind");
        match kind {
            "inference_request" | "compaction_request" | "compaction_checkpoint" => {
                assert!(payload["text"].is_null(), "{hash} {kind}");
                assert!(payload["note"].as_str().expect("note").contains("left out"));
            }
            _ => {
                let text = payload["text"].as_str().expect("text");
                assert!(text.len() <= 300, "{hash}: {}", text.len());
                let size = payload["size_bytes"].as_u64().expect("size");
                assert_eq!(payload["truncated"].as_bool().unwrap_or(false), size > 300);
            }
        }
    }

    // Each request rebuilt from its delta is the state's, item for item.
    let requests = data["requests"].as_object().expect("requests");
    let mut rebuilt: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for (id, call) in state["inference_calls"].as_object().expect("calls") {
        let delta = &requests[id];
        let mut items: Vec<Value> = match delta["after"].as_str() {
            Some(after) => {
                rebuilt[after][..delta["keep"].as_u64().expect("keep") as usize].to_vec()
            }
            None => Vec::new(),
        };
        items.extend(delta["add"].as_array().expect("add").iter().cloned());
        assert_eq!(
            &Value::Array(items.clone()),
            &call["request_item_ids"],
            "call {id}"
        );
        rebuilt.insert(id.clone(), items);
    }
    let ids_in_page: usize = requests
        .values()
        .map(|d| d["add"].as_array().expect("add").len())
        .sum();
    let ids_in_state: usize = rebuilt.values().map(Vec::len).sum();
    assert!(
        ids_in_page * 5 < ids_in_state,
        "{ids_in_page} vs {ids_in_state}"
    );

    // From the state JSON alone: every payload listed, none with a body,
    // each saying why.
    let from_state = dir.path().join("from-state.html");
    ok(
        &store,
        &[
            "view",
            state_path.to_str().expect("utf-8"),
            "-o",
            from_state.to_str().expect("utf-8"),
        ],
    );
    let data = page_data(&from_state);
    let payloads = data["rollout"]["payloads"].as_object().expect("payloads");
    assert_eq!(payloads.len(), hashes.len());
    for payload in payloads.values() {
        assert!(payload["text"].is_null());
        assert!(payload["note"].is_string());
    }

    // The page to standard output; a directory is refused by name.
    let html = ok(&store, &["view", &rollout, "-o", "-"]);
    assert!(html.starts_with("<!DOCTYPE html>"));
    let err = crate::support::fails(
        &store,
        &["view", &rollout, "-o", dir.path().to_str().expect("utf-8")],
    );
    assert!(err.contains(dir.path().to_str().expect("utf-8")), "{err}");
    let err = crate::support::fails(&store, &["view", "no-such-rollout", "-o", path]);
    assert!(err.contains("no-such-rollout"), "{err}");
}

#[test]
fn every_state_the_reference_reducer_wrote_views_from_its_json() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/reference-tests");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let mut viewed = 0;
    for entry in std::fs::read_dir(&root).expect("reference tests") {
        let state_path = entry.expect("entry").path().join("reference-state.json");
        if !state_path.is_file() {
            continue; // a test whose reference run failed has no state
        }
        let state: Value =
            serde_json::from_str(&std::fs::read_to_string(&state_path).expect("read"))
                .expect("JSON");
        let page = dir.path().join("page.html");
        let source = state_path.to_str().expect("utf-8");
        ok(
            &store,
            &["view", source, "-o", page.to_str().expect("utf-8")],
        );
        let data = page_data(&page);
        let threads = data["rollout"]["view"]["threads"]
            .as_array()
            .expect("threads");
        assert_eq!(
            threads.len(),
            state["threads"].as_object().expect("threads").len(),
            "{source}"
        );
        // The reference names payloads by path, with no hash: the page
        // holds no body for them (and shows the path).
        let payloads = data["rollout"]["payloads"].as_object().expect("payloads");
        assert!(payloads.is_empty(), "{source}: {payloads:?}");
        viewed += 1;
    }
    assert!(viewed >= 38, "{viewed} reference states viewed");
}
