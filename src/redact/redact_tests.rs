use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::rules::{Found, Rule, RuleSet, rule_set};
use super::*;
use crate::event::JsonText;

fn rules() -> &'static RuleSet {
    match rule_set() {
        Ok(set) => set,
        Err(err) => panic!("the built-in rules do not load: {err}"),
    }
}

/// What one rule alone finds in `text`.
fn found_by(index: usize, rule: &Rule, text: &str) -> Vec<Found> {
    let mut found = Vec::new();
    rule.find_secrets(index, text.as_bytes(), &mut found);
    found
}

fn counts(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    pairs.iter().map(|(id, n)| (id.to_string(), *n)).collect()
}

#[test]
fn the_built_in_rules_load_with_unique_ids_and_examples_of_both_kinds() {
    let set = rules();
    assert!(set.rules.len() >= 40, "{} rules", set.rules.len());
    let mut ids: Vec<&str> = set.rules.iter().map(|rule| rule.spec.id.as_str()).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before, "duplicate rule ids");
    for rule in &set.rules {
        let spec = &rule.spec;
        assert!(!spec.description.is_empty(), "{}", spec.id);
        assert!(
            !spec.positive.is_empty(),
            "{} has no positive example",
            spec.id
        );
        assert!(
            !spec.negative.is_empty(),
            "{} has no negative example",
            spec.id
        );
    }
}

#[test]
fn every_positive_example_is_found_by_its_rule_and_redacted_to_its_marker() {
    for (index, rule) in rules().rules.iter().enumerate() {
        let id = &rule.spec.id;
        for example in &rule.spec.positive {
            let (text, secret) = (example.text.as_str(), example.secret.as_str());
            // The prefilter lets the regex run on this text.
            let lower = text.to_ascii_lowercase();
            assert!(
                rule.spec
                    .keywords
                    .iter()
                    .any(|k| lower.contains(k.as_str())),
                "{id}: no keyword in {text:?}"
            );
            let start = text
                .find(secret)
                .unwrap_or_else(|| panic!("{id}: {secret:?} not in its text"));
            assert_eq!(
                found_by(index, rule, text),
                vec![Found {
                    start,
                    end: start + secret.len(),
                    rule: index
                }],
                "{id}: {text:?}"
            );
            // The whole redactor replaces exactly the secret, and counts it
            // for this rule.
            let redactor = Redactor::new();
            let expected = text.replacen(secret, &rule_marker(secret.as_bytes()), 1);
            assert_eq!(redactor.redact_str(text), Some(expected), "{id}");
            assert_eq!(redactor.counts(), counts(&[(id, 1)]), "{id}: {text:?}");
        }
    }
}

#[test]
fn nothing_redacts_a_negative_example() {
    let redactor = Redactor::new();
    for (index, rule) in rules().rules.iter().enumerate() {
        for text in &rule.spec.negative {
            assert_eq!(
                found_by(index, rule, text),
                vec![],
                "{}: {text:?}",
                rule.spec.id
            );
            assert_eq!(
                redactor.redact_str(text),
                None,
                "{}: {text:?}",
                rule.spec.id
            );
        }
    }
    assert_eq!(redactor.counts(), vec![]);
}

#[test]
fn redacting_twice_changes_nothing_the_second_time() {
    let redactor = Redactor::new().with_known_secret("planted-known-value");
    for rule in &rules().rules {
        for example in &rule.spec.positive {
            let once = redactor.redact_str(&example.text).unwrap_or_default();
            assert_eq!(
                redactor.redact_str(&once),
                None,
                "{}: {once:?}",
                rule.spec.id
            );
        }
    }
    // Markers after every kind of assignment, header and URL the rules know.
    let marker = rule_marker(b"x");
    for context in [
        "password=",
        "password: ",
        "\"password\": \"",
        "secret: ",
        "api_key=",
        "token=",
        "Authorization: Bearer ",
        "Authorization: Basic ",
        "aws_secret_access_key = ",
        "postgres://user:",
        "curl -u user:",
        "cloudflare_token=",
        "discord_token=",
        "?sig=",
        "AccountKey=",
        "bot",
        "sk-",
        "ghp_",
    ] {
        for redacted in [MARKER, marker.as_str()] {
            let text = format!("{context}{redacted}@host\" and planted-known-value");
            let once = redactor.redact_str(&text).unwrap_or_default();
            assert_eq!(once, format!("{context}{redacted}@host\" and {MARKER}"));
            assert_eq!(redactor.redact_str(&once), None, "{once:?}");
        }
    }
    let mut value = json!({
        "sk-proj-KeyUsedAsAJsonKey0123456789": {"password": ["a", "b"], "note": "ghp_Szrgic4vCbe25eh7xfNWQX5lVKF4KDKTaDGT"},
        "[REDACTED]": 1,
    });
    assert!(redactor.redact_json(&mut value));
    let once = value.clone();
    assert!(!redactor.redact_json(&mut value));
    assert_eq!(value, once);
}

#[test]
fn the_same_secret_gives_the_same_marker_everywhere_and_two_secrets_two_markers() {
    let redactor = Redactor::new();
    let first = "sk-proj-FirstThreadSecret0123456789abcdef";
    let second = "sk-proj-SecondThreadSecret0123456789abcde";
    let id = format!("t-{first}");
    let redacted_id = redactor.redact_str(&id).unwrap_or_default();
    assert_eq!(redacted_id, format!("t-{}", rule_marker(first.as_bytes())));
    // In free text, in a JSON value and as a JSON key: the same text.
    assert_eq!(
        redactor.redact_str(&format!("thread {id} started")),
        Some(format!("thread {redacted_id} started"))
    );
    let mut value = json!({"thread_id": id, id.clone(): true});
    assert!(redactor.redact_json(&mut value));
    assert_eq!(
        value,
        json!({"thread_id": redacted_id, redacted_id.clone(): true})
    );
    // Deterministic across redactors; distinct for distinct secrets.
    assert_eq!(Redactor::new().redact_str(&id), Some(redacted_id.clone()));
    let other = redactor
        .redact_str(&format!("t-{second}"))
        .unwrap_or_default();
    assert_ne!(other, redacted_id);
    assert_eq!(
        rule_marker(first.as_bytes()).len(),
        "[REDACTED:01234567]".len()
    );
    assert_ne!(
        rule_marker(first.as_bytes()),
        rule_marker(second.as_bytes())
    );
    assert!(!rule_marker(first.as_bytes()).contains(&blake3::hash(first.as_bytes()).to_hex()[..8]));
}

#[test]
fn secrets_used_as_json_keys_are_redacted_and_colliding_keys_stay_apart() {
    let secret = "sk-proj-KeyUsedAsAJsonKey0123456789";
    let marker = rule_marker(secret.as_bytes());
    let redactor = Redactor::new()
        .with_known_secret("known-one")
        .with_known_secret("known-two");
    let mut value = json!({
        "first": 1,
        secret: 2,
        marker.clone(): 3,
        "a known-one": 4,
        "a known-two": 5,
        "last": 6,
    });
    assert!(redactor.redact_json(&mut value));
    let entries: Vec<(String, Value)> = match value {
        Value::Object(map) => map.into_iter().collect(),
        other => panic!("not an object: {other}"),
    };
    assert_eq!(
        entries,
        vec![
            ("first".to_string(), json!(1)),
            (format!("{marker}#2"), json!(2)),
            (marker.clone(), json!(3)),
            ("a [REDACTED]".to_string(), json!(4)),
            ("a [REDACTED]#2".to_string(), json!(5)),
            ("last".to_string(), json!(6)),
        ]
    );
    assert_eq!(
        redactor.counts(),
        counts(&[(KNOWN_VALUE, 2), ("openai-api-key", 1)])
    );
}

#[test]
fn values_under_secret_keys_are_replaced_whole_whatever_their_type() {
    let redactor = Redactor::new().with_known_secret("hunter2-very-secret");
    let mut value = json!({
        "headers": {"Authorization": "x", "X-Api-Key": "y", "content-type": "json"},
        "openai_api_key": "z", "max_tokens": 5, "tokens": ["not", "secret"],
        "cookie": ["session=abc", "csrf=def"],
        "aws_secret_access_key": {"nested": {"deeper": "value"}},
        "password": 12345678,
        "token": null, "secret": false, "api_key": "",
        "note": "the password is hunter2-very-secret!"
    });
    assert!(redactor.redact_json(&mut value));
    assert_eq!(
        value,
        json!({
            "headers": {"Authorization": MARKER, "X-Api-Key": MARKER, "content-type": "json"},
            "openai_api_key": MARKER, "max_tokens": 5, "tokens": ["not", "secret"],
            "cookie": MARKER,
            "aws_secret_access_key": MARKER,
            "password": MARKER,
            "token": null, "secret": false, "api_key": "",
            "note": "the password is [REDACTED]!"
        })
    );
    assert_eq!(
        redactor.counts(),
        counts(&[(KNOWN_VALUE, 1), (SECRET_KEY, 6)])
    );
}

#[test]
fn bytes_that_are_not_utf8_are_scanned_and_keep_their_other_bytes() {
    let redactor = Redactor::new().with_known_secret("planted-known-value");
    let basic = "dXNlcjpwYXNzd29yZA==";
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl";
    let mut bytes = b"\xff\xfe out: Authorization: Basic ".to_vec();
    bytes.extend_from_slice(basic.as_bytes());
    bytes.extend_from_slice(b"\n\x80 token ");
    bytes.extend_from_slice(jwt.as_bytes());
    bytes.extend_from_slice(b" planted-known-value \xc3");
    let mut expected = b"\xff\xfe out: Authorization: Basic ".to_vec();
    expected.extend_from_slice(rule_marker(basic.as_bytes()).as_bytes());
    expected.extend_from_slice(b"\n\x80 token ");
    expected.extend_from_slice(rule_marker(jwt.as_bytes()).as_bytes());
    expected.extend_from_slice(b" [REDACTED] \xc3");
    assert_eq!(redactor.redact_bytes(&bytes), Some(expected.clone()));
    assert_eq!(redactor.redact_bytes(&expected), None);
    assert_eq!(
        redactor.counts(),
        counts(&[("basic-auth", 1), ("jwt", 1), (KNOWN_VALUE, 1)])
    );
}

#[test]
fn payload_bytes_are_left_alone_when_nothing_changes() {
    let redactor = Redactor::new();
    assert_eq!(redactor.redact_bytes(b"{ \"a\" : 1 }"), None);
    assert_eq!(redactor.redact_bytes(&[0xff, 0xfe, 0x00]), None);
    assert_eq!(redactor.redact_str("sk-short and task-list"), None);
    // JSON that changes is re-serialised compactly, key order kept.
    assert_eq!(
        redactor.redact_bytes(b"{ \"b\" : 1, \"password\" : \"x\" }"),
        Some(br#"{"b":1,"password":"[REDACTED]"}"#.to_vec())
    );
}

#[test]
fn redact_event_changes_every_string_of_an_event_and_keeps_json_valid() {
    let redactor = Redactor::new();
    let secret = "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";
    let marker = rule_marker(secret.as_bytes());
    let mut rollout_id = format!("rollout-{secret}");
    let mut thread_id = Some(format!("thread-{secret}"));
    let mut turn_id = None;
    let mut payload: EventPayload<()> = EventPayload::Other {
        kind: format!("kind-{secret}"),
        summary: format!("summary {secret}"),
        payloads: vec![()],
        metadata: JsonText(format!(
            r#"{{"{secret}":{{"password":["a"]}},"v":"{secret}"}}"#
        )),
    };
    let changed =
        redactor.redact_event(&mut rollout_id, &mut thread_id, &mut turn_id, &mut payload);
    assert_eq!(changed, 5);
    assert_eq!(rollout_id, format!("rollout-{marker}"));
    assert_eq!(thread_id, Some(format!("thread-{marker}")));
    assert_eq!(
        payload,
        EventPayload::Other {
            kind: format!("kind-{marker}"),
            summary: format!("summary {marker}"),
            payloads: vec![()],
            metadata: JsonText(format!(
                r#"{{"{marker}":{{"password":"[REDACTED]"}},"v":"{marker}"}}"#
            )),
        }
    );
    let mut unknown: EventPayload<()> = EventPayload::Unknown {
        type_name: format!("future_{secret}"),
        json: JsonText(format!(r#"{{"type":"future_{secret}","x":1}}"#)),
    };
    let mut no_thread = None;
    assert_eq!(
        redactor.redact_event(
            &mut String::from("r"),
            &mut no_thread,
            &mut None,
            &mut unknown
        ),
        2
    );
    assert_eq!(
        unknown,
        EventPayload::Unknown {
            type_name: format!("future_{marker}"),
            json: JsonText(format!(r#"{{"type":"future_{marker}","x":1}}"#)),
        }
    );
    assert_eq!(
        redactor.counts(),
        counts(&[("huggingface-access-token", 8), (SECRET_KEY, 1)])
    );
}

#[test]
fn counts_are_shared_by_clones_and_listed_by_id() {
    let redactor = Redactor::new().with_known_secret("planted-known-value");
    let clone = redactor.clone();
    clone.redact_str("a planted-known-value and AKIABLESK4M5APE3HEEY");
    redactor
        .redact_str("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig and planted-known-value");
    let expected = counts(&[("aws-access-key-id", 1), ("jwt", 1), (KNOWN_VALUE, 2)]);
    assert_eq!(redactor.counts(), expected);
    assert_eq!(clone.counts(), expected);
    // A new redactor counts on its own.
    assert_eq!(Redactor::new().counts(), vec![]);
}

#[test]
fn key_formats_from_the_issue_are_redacted_inside_strings() {
    let redactor = Redactor::new();
    for (text, secret) in [
        (
            "k sk-ant-api03-Qw3rTy8uIoP0aSdF6gHjK2lZxCvB",
            "sk-ant-api03-Qw3rTy8uIoP0aSdF6gHjK2lZxCvB",
        ),
        ("k glpat-TZKbbyHiErn1Y4LOGi2K", "glpat-TZKbbyHiErn1Y4LOGi2K"),
        ("k xoxa-2-Qw3rTy8uIoP0aSdF", "xoxa-2-Qw3rTy8uIoP0aSdF"),
        ("k xoxp-1234567890-abcdef", "xoxp-1234567890-abcdef"),
        ("k xoxr-1234567890-abcdef", "xoxr-1234567890-abcdef"),
        (
            "k rk_live_fJdtVpQYRneJCbiDF9naag95",
            "rk_live_fJdtVpQYRneJCbiDF9naag95",
        ),
        (
            "k sk_live_KP4dWEAG46K9aWTvr376teNB",
            "sk_live_KP4dWEAG46K9aWTvr376teNB",
        ),
        (
            "k AIzakGBasPMA3LbAloqiXBOucuxghD3w0k-togS",
            "AIzakGBasPMA3LbAloqiXBOucuxghD3w0k-togS",
        ),
        (
            "k 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",
            "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",
        ),
        (
            "k 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",
            "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",
        ),
        (
            "ghp_abcdefghijklmnopqrstuvwxyz0123",
            "ghp_abcdefghijklmnopqrstuvwxyz0123",
        ),
        ("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        ("Authorization: Bearer abc.def-ghi_jkl9", "abc.def-ghi_jkl9"),
    ] {
        let expected = text.replacen(secret, &rule_marker(secret.as_bytes()), 1);
        assert_eq!(redactor.redact_str(text), Some(expected), "{text}");
    }
}

#[test]
fn pem_private_key_blocks_are_redacted_whole() {
    let block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----";
    let text = format!("before\n{block}\nafter");
    let out = Redactor::new().redact_str(&text);
    assert_eq!(
        out,
        Some(format!("before\n{}\nafter", rule_marker(block.as_bytes())))
    );
}

#[test]
fn deeply_nested_values_are_walked_and_replaced_without_recursion() {
    let mut value = json!("sk-abcdefghijklmnopqrstuvwxyz");
    for _ in 0..100_000 {
        value = Value::Array(vec![value]);
    }
    // Under a secret key the whole deep value is replaced (and dropped).
    let mut keyed = json!({"token": Value::Null});
    let mut deep = json!("x");
    for _ in 0..100_000 {
        deep = Value::Array(vec![deep]);
    }
    keyed["token"] = deep;
    let redactor = Redactor::new();
    assert!(redactor.redact_json(&mut keyed));
    assert_eq!(keyed, json!({"token": MARKER}));
    assert!(redactor.redact_json(&mut value));
    // Dropping a deep value recurses in serde_json; unwind it by hand.
    let mut current = value;
    while let Value::Array(mut items) = current {
        current = items.pop().unwrap_or(Value::Null);
    }
    assert_eq!(
        current,
        json!(rule_marker(b"sk-abcdefghijklmnopqrstuvwxyz"))
    );
}

#[test]
fn a_keyword_inside_a_longer_keyword_still_triggers_its_rules() {
    // At the `s`, the longest keyword is `secret_` (notion-token); the
    // generic rule's `secret` is inside it and must still run.
    let redactor = Redactor::new();
    assert_eq!(
        redactor.redact_str("SECRET_KEY=abc123def"),
        Some(format!("SECRET_KEY={}", rule_marker(b"abc123def")))
    );
    assert_eq!(
        redactor.counts(),
        counts(&[("generic-secret-assignment", 1)])
    );
}

#[test]
fn a_rule_file_with_a_mistake_is_refused_naming_the_rule() {
    let rule = |keywords: &str, regex: &str, group: usize| {
        format!(
            "[[rule]]\nid = \"r\"\ndescription = \"d\"\nkeywords = {keywords}\nregex = '''{regex}'''\n\
             secret_group = {group}\npositive = [{{ text = \"x\", secret = \"x\" }}]\nnegative = [\"y\"]\n"
        )
    };
    let error = |text: &str| match RuleSet::parse(text) {
        Ok(_) => panic!("accepted: {text}"),
        Err(err) => err,
    };
    assert!(RuleSet::parse(&rule("[\"ab\"]", "ab(c)", 1)).is_ok());
    assert!(
        error(&rule("[\"Ab\"]", "ab", 0)).starts_with("rule r: keyword \"Ab\" must be lower-case")
    );
    assert!(error(&rule("[]", "ab", 0)).starts_with("rule r: no keywords"));
    assert!(error(&rule("[\"ab\"]", "ab(", 0)).starts_with("rule r: the regex does not compile"));
    assert_eq!(
        error(&rule("[\"ab\"]", "ab(c)", 2)),
        "rule r: secret_group 2 but the regex has 1 groups"
    );
    assert!(error("[[rule]]\nid = \"r\"\n").starts_with("rules.toml does not parse"));
}

#[test]
fn known_values_that_could_occur_in_a_marker_are_ignored() {
    let redactor = Redactor::new()
        .with_known_secret("DACT")
        .with_known_secret("ED]#2")
        .with_known_secret("1a2b3c4d")
        .with_known_secret("abc")
        .with_known_secret("deadbeef0")
        .with_known_secret("REDACTED-not-a-marker");
    let text = "DACT ED]#2 1a2b3c4d abc deadbeef0 REDACTED-not-a-marker";
    assert_eq!(
        redactor.redact_str(text),
        Some("DACT ED]#2 1a2b3c4d abc [REDACTED] [REDACTED]".to_string())
    );
    let once = redactor.redact_str(text).unwrap_or_default();
    assert_eq!(redactor.redact_str(&once), None);
}

#[test]
fn secrets_next_to_text_that_is_not_ascii_are_cut_at_character_boundaries() {
    let redactor = Redactor::new();
    let key = "sk-proj-XLeSqmU-43fSLqgPvqaFtl9VjSHBgEE4yYggorVYMtMHlVgd";
    assert_eq!(
        redactor.redact_str(&format!("clé → {key}é — fin")),
        Some(format!("clé → {}é — fin", rule_marker(key.as_bytes())))
    );
    assert_eq!(
        redactor.redact_str("mot de passe: password=pässwörd1 ✓"),
        Some(format!(
            "mot de passe: password={} ✓",
            rule_marker("pässwörd1".as_bytes())
        ))
    );
}

/// Long texts found clean are remembered and not scanned again; the memory
/// never hides a secret: a text with one is redacted (and counted) every
/// time, a clean text that a known value added later would change is
/// redacted by the redactor that knows it, and the same text with one
/// byte more is scanned.
#[test]
fn a_long_text_found_clean_is_skipped_next_time_and_never_hides_a_secret() {
    let filler = "the conversation so far, resent with every request. ".repeat(40);
    assert!(filler.len() >= CLEAN_TEXT_MIN_BYTES);
    let redactor = Redactor::new();
    assert_eq!(redactor.redact_str(&filler), None);
    assert!(
        redactor
            .clean_texts()
            .contains(blake3::hash(filler.as_bytes()).as_bytes())
    );
    assert_eq!(redactor.redact_str(&filler), None, "remembered");
    assert_eq!(redactor.clean_texts().len(), 1);

    let with_secret = format!("{filler} ghp_Szrgic4vCbe25eh7xfNWQX5lVKF4KDKTaDGT");
    for _ in 0..3 {
        let redacted = redactor.redact_str(&with_secret).expect("redacted");
        assert!(!redacted.contains("ghp_"), "{redacted}");
    }
    assert_eq!(redactor.counts().iter().map(|(_, n)| n).sum::<u64>(), 3);
    assert_eq!(
        redactor.clean_texts().len(),
        1,
        "a redacted text is not clean"
    );

    // A clone shares what it found clean (same values, same rules); a
    // redactor told a known value starts afresh.
    let clone = redactor.clone();
    assert_eq!(clone.clean_texts().len(), 1);
    let knowing = redactor.clone().with_known_secret("resent with every");
    assert_eq!(knowing.clean_texts().len(), 0);
    let redacted = knowing.redact_str(&filler).expect("the known value");
    assert!(!redacted.contains("resent with every"));

    // Short texts are never remembered.
    assert_eq!(redactor.redact_str("short and clean"), None);
    assert_eq!(redactor.clean_texts().len(), 1);
}
