//! The secret-detection rules: `rules.toml` (data, compiled into the binary)
//! parsed and compiled once, and the search that finds every rule's secrets
//! in a text.
//!
//! A rule's regex runs only on a text where one of its keywords occurs
//! (one Aho-Corasick pass over all keywords, ASCII case ignored), so the cost
//! on a text without any keyword is a single scan. This module does no I/O
//! and never panics: a rule file that does not load is reported as an error
//! value, which the redactor treats as "redact everything".

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};
use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;

/// The rule file, compiled in.
const RULES_TOML: &str = include_str!("rules.toml");

/// The most rules a rule set may hold (the triggered-rule set is a fixed
/// bitset, so scanning allocates nothing when no keyword occurs).
const MAX_RULES: usize = 256;

/// One rule as written in `rules.toml`. The description and the examples
/// are read only by the unit tests, which prove every rule by its examples.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct RuleSpec {
    pub(crate) id: String,
    pub(crate) description: String,
    pub(crate) keywords: Vec<String>,
    pub(crate) regex: String,
    #[serde(default)]
    pub(crate) secret_group: usize,
    pub(crate) positive: Vec<PositiveExample>,
    pub(crate) negative: Vec<String>,
}

/// A text and the secret a rule must find in it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct PositiveExample {
    pub(crate) text: String,
    pub(crate) secret: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    rule: Vec<RuleSpec>,
}

/// A compiled rule.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) spec: RuleSpec,
    regex: Regex,
}

/// Where a rule found a secret: `start..end` of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// Index of the rule in the rule set.
    pub(crate) rule: usize,
}

impl Rule {
    /// Appends every secret this rule finds in `text` to `out`, in order.
    ///
    /// The next search starts where the secret ended, not where the match
    /// ended: a match may consume one character after its secret (the regex
    /// crate has no look-ahead), and that character can be the boundary in
    /// front of the next secret.
    pub(crate) fn find_secrets(&self, rule: usize, text: &[u8], out: &mut Vec<Found>) {
        let mut locations = self.regex.capture_locations();
        let mut at = 0;
        while at <= text.len() {
            let Some(whole) = self.regex.captures_read_at(&mut locations, text, at) else {
                break;
            };
            let mut next = whole.end();
            if let Some((start, end)) = locations.get(self.spec.secret_group)
                && start < end
            {
                out.push(Found { start, end, rule });
                next = end;
            }
            // Always move forward, even past an empty match.
            at = next.max(at + 1);
        }
    }
}

/// Every rule, and the keyword automaton that decides which of them run.
#[derive(Debug)]
pub(crate) struct RuleSet {
    pub(crate) rules: Vec<Rule>,
    keywords: AhoCorasick,
    /// For each keyword pattern of `keywords`, the rules it triggers.
    keyword_rules: Vec<Vec<usize>>,
}

/// A set of rule indices, at most [`MAX_RULES`].
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RuleBits([u64; MAX_RULES / 64]);

impl RuleBits {
    fn insert(&mut self, rule: usize) {
        self.0[rule / 64] |= 1 << (rule % 64);
    }

    fn is_empty(&self) -> bool {
        self.0.iter().all(|word| *word == 0)
    }

    /// The rule indices, ascending.
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(index, word)| {
            (0..64).filter_map(move |bit| (word & (1 << bit) != 0).then_some(index * 64 + bit))
        })
    }
}

impl RuleSet {
    /// Parses and compiles a rule file.
    pub(crate) fn parse(text: &str) -> Result<RuleSet, String> {
        let file: RuleFile =
            toml::from_str(text).map_err(|err| format!("rules.toml does not parse: {err}"))?;
        if file.rule.len() > MAX_RULES {
            return Err(format!(
                "rules.toml has {} rules, more than {MAX_RULES}",
                file.rule.len()
            ));
        }
        let mut rules = Vec::with_capacity(file.rule.len());
        let mut patterns: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        for (index, spec) in file.rule.into_iter().enumerate() {
            // Unicode off: the rules are ASCII, `(?i)` and `\s` stay ASCII,
            // and negated classes match any other byte, so the automata stay
            // small (with Unicode classes an ingest peaked 20 MB higher).
            let regex = RegexBuilder::new(&spec.regex)
                .unicode(false)
                .build()
                .map_err(|err| format!("rule {}: the regex does not compile: {err}", spec.id))?;
            if spec.secret_group >= regex.captures_len() {
                return Err(format!(
                    "rule {}: secret_group {} but the regex has {} groups",
                    spec.id,
                    spec.secret_group,
                    regex.captures_len() - 1
                ));
            }
            if spec.keywords.is_empty() {
                return Err(format!("rule {}: no keywords", spec.id));
            }
            for keyword in &spec.keywords {
                if keyword.is_empty() || *keyword != keyword.to_ascii_lowercase() {
                    return Err(format!(
                        "rule {}: keyword {keyword:?} must be lower-case and not empty",
                        spec.id
                    ));
                }
                match patterns.iter().position(|known| known == keyword) {
                    Some(pattern) => keyword_rules[pattern].push(index),
                    None => {
                        patterns.push(keyword.clone());
                        keyword_rules.push(vec![index]);
                    }
                }
            }
            rules.push(Rule { spec, regex });
        }
        // An occurrence of a keyword is an occurrence of every keyword
        // inside it: `triggered` sees only the longest keyword starting at
        // each position, so each keyword triggers the rules of all of them.
        let keyword_rules: Vec<Vec<usize>> = patterns
            .iter()
            .map(|keyword| {
                let mut rules: Vec<usize> = patterns
                    .iter()
                    .zip(&keyword_rules)
                    .filter(|(inner, _)| keyword.contains(inner.as_str()))
                    .flat_map(|(_, rules)| rules.iter().copied())
                    .collect();
                rules.sort_unstable();
                rules.dedup();
                rules
            })
            .collect();
        // A DFA: several times faster than the default NFA on this many short
        // patterns (about a megabyte; the default is the fallback).
        let builder = |kind| {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .kind(kind)
                .build(&patterns)
        };
        let keywords = builder(Some(AhoCorasickKind::DFA))
            .or_else(|_| builder(None))
            .map_err(|err| format!("the keyword automaton does not build: {err}"))?;
        Ok(RuleSet {
            rules,
            keywords,
            keyword_rules,
        })
    }

    /// The rules one of whose keywords occurs in `text`: the longest
    /// keyword starting at each position where one starts (which stands for
    /// every keyword inside it), one leftmost-longest search per position.
    fn triggered(&self, text: &[u8]) -> RuleBits {
        let mut bits = RuleBits::default();
        let mut at = 0;
        while let Some(found) = self.keywords.find(Input::new(text).span(at..text.len())) {
            for rule in &self.keyword_rules[found.pattern().as_usize()] {
                bits.insert(*rule);
            }
            at = found.start() + 1;
        }
        bits
    }

    /// Every secret any rule finds in `text`, merged: sorted by start, and
    /// overlapping finds joined into one (counted for the first rule, in
    /// file order, among those that start earliest and reach furthest).
    pub(crate) fn find(&self, text: &[u8]) -> Vec<Found> {
        let triggered = self.triggered(text);
        if triggered.is_empty() {
            return Vec::new();
        }
        let mut found = Vec::new();
        for rule in triggered.iter() {
            self.rules[rule].find_secrets(rule, text, &mut found);
        }
        found.sort_unstable_by_key(|f| (f.start, std::cmp::Reverse(f.end), f.rule));
        let mut merged: Vec<Found> = Vec::with_capacity(found.len());
        for next in found {
            match merged.last_mut() {
                Some(last) if next.start < last.end => last.end = last.end.max(next.end),
                _ => merged.push(next),
            }
        }
        merged
    }
}

/// The built-in rule set, parsed and compiled on first use.
pub(crate) fn rule_set() -> Result<&'static RuleSet, &'static str> {
    static RULES: OnceLock<Result<RuleSet, String>> = OnceLock::new();
    match RULES.get_or_init(|| RuleSet::parse(RULES_TOML)) {
        Ok(set) => Ok(set),
        Err(err) => Err(err.as_str()),
    }
}
