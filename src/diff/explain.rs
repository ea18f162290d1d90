//! Explanation: the human text of a difference between two aligned
//! entries, e.g. ``arguments differ: `ls` vs `ls -la` `` or
//! ``response payload differs at `output_items[0].text`: `a` vs `b` ``.
//!
//! Payloads are explained by their first differing JSON field when both
//! sides can read them, else by their short raw hashes; long text is cut to
//! an excerpt around its first difference.

use serde_json::Value;

use super::fact::{ComparedPayload, Entry, Fact};
use super::order::Difference;
use super::payload::Comparison;

impl Comparison<'_, '_> {
    /// How two aligned entries differ: at their first differing fact, or
    /// (same facts, different counts) at their first fact.
    pub fn differ(&self, x: &Entry, y: &Entry) -> Option<Difference> {
        let index = x
            .facts
            .iter()
            .zip(&y.facts)
            .position(|(p, q)| !self.same(p, q))
            .or_else(|| (x.facts.len() != y.facts.len()).then_some(0))?;
        let what = match (x.facts.get(index), y.facts.get(index)) {
            (Some(p), Some(q)) => self.explain(p, q),
            _ => "differs in shape".to_string(),
        };
        Some(Difference {
            what,
            field: x.facts.get(index).map(|f| f.label.to_string()),
        })
    }

    /// The human text of one differing fact.
    fn explain(&self, x: &Fact, y: &Fact) -> String {
        let verb = if x.label.ends_with('s') && !x.label.ends_with("status") {
            "differ"
        } else {
            "differs"
        };
        let is_payload =
            x.label.ends_with("payload") || !x.payloads.is_empty() || !y.payloads.is_empty();
        if is_payload && x.payloads.len() == y.payloads.len() {
            return self.explain_payloads(x, y, verb);
        }
        if is_payload {
            return format!(
                "{} {verb}: {} vs {} payloads",
                x.label,
                x.payloads.len(),
                y.payloads.len()
            );
        }
        let (sa, sb) = match (&x.shown, &y.shown) {
            (Some(sa), Some(sb)) if sa != sb => (sa.clone(), sb.clone()),
            _ => (x.key.clone(), y.key.clone()),
        };
        let (sa, sb) = excerpt_pair(&sa, &sb);
        format!("{} {verb}: `{}` vs `{}`", x.label, sa, sb)
    }

    /// Two payload lists of the same length: their first differing payload
    /// (numbered when the list has several) by its first differing JSON
    /// field, or by short hashes when it cannot be read.
    fn explain_payloads(&self, x: &Fact, y: &Fact, verb: &str) -> String {
        let (a, b) = (self.a, self.b);
        let index = x.payloads.iter().zip(&y.payloads).position(|(p, q)| {
            p.key != q.key
                && (a.cached_key(&p.id).is_none() || a.cached_key(&p.id) != b.cached_key(&q.id))
        });
        let label = match index {
            Some(i) if x.payloads.len() > 1 => format!("{} [{}]", x.label, i + 1),
            _ => x.label.to_string(),
        };
        let pair = index.and_then(|i| Some((x.payloads.get(i)?, y.payloads.get(i)?)));
        let Some((p, q)) = pair else {
            return format!(
                "{label} {verb} (blake3 {} vs {})",
                short_hash(&x.key),
                short_hash(&y.key)
            );
        };
        let ComparedPayload { key: ka, id: ia } = p;
        let ComparedPayload { key: kb, id: ib } = q;
        if let (Some(va), Some(vb)) = (a.read_normalized(ia), b.read_normalized(ib)) {
            let (path, da, db) = first_difference(&va, &vb, String::new());
            let at = if path.is_empty() {
                String::new()
            } else {
                format!(" at `{path}`")
            };
            let (da, db) = excerpt_pair(&da, &db);
            return format!("{label} {verb}{at}: `{da}` vs `{db}`");
        }
        format!(
            "{label} {verb} (blake3 {} vs {})",
            short_hash(ka),
            short_hash(kb)
        )
    }
}

/// The first 12 hex digits of a payload comparison key.
fn short_hash(key: &str) -> String {
    key.rsplit(' ')
        .next()
        .unwrap_or(key)
        .chars()
        .take(12)
        .collect()
}

/// `text` cut to `max_chars` characters, with `…` when cut.
fn short(text: &str, max_chars: usize) -> String {
    let mut out: String = text.chars().take(max_chars).collect();
    if text.chars().nth(max_chars).is_some() {
        out.push('…');
    }
    out
}

/// Short excerpts of two differing strings: the differing JSON field when
/// both are JSON objects, else the text around the first difference.
fn excerpt_pair(a: &str, b: &str) -> (String, String) {
    if let (Ok(va), Ok(vb)) = (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) && va.is_object()
        && vb.is_object()
    {
        let (_, da, db) = first_difference(&va, &vb, String::new());
        return (short(&da, 80), short(&db, 80));
    }
    if a.chars().count() <= 80 && b.chars().count() <= 80 {
        return (a.to_string(), b.to_string());
    }
    // Start a little before the first differing character.
    let common = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, ca), cb)| ca != cb)
        .map(|((i, _), _)| i)
        .unwrap_or(a.len().min(b.len()));
    let start = a[..common]
        .char_indices()
        .rev()
        .nth(20)
        .map(|(i, _)| i)
        .unwrap_or(0);
    let prefix = if start > 0 { "…" } else { "" };
    (
        format!("{prefix}{}", short(&a[start..], 60)),
        format!("{prefix}{}", short(b.get(start..).unwrap_or(b), 60)),
    )
}

/// The first differing leaf of two JSON values: its path and both values.
fn first_difference(a: &Value, b: &Value, path: String) -> (String, String, String) {
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => {
            let sub = |k: &str| {
                if path.is_empty() {
                    k.to_string()
                } else {
                    format!("{path}.{k}")
                }
            };
            for (k, va) in ma {
                match mb.get(k) {
                    Some(vb) if vb == va => {}
                    Some(vb) => return first_difference(va, vb, sub(k)),
                    None => return (sub(k), render(va), "(absent)".to_string()),
                }
            }
            for (k, vb) in mb {
                if !ma.contains_key(k) {
                    return (sub(k), "(absent)".to_string(), render(vb));
                }
            }
            (path, render(a), render(b))
        }
        (Value::Array(xa), Value::Array(xb)) => {
            for (i, (va, vb)) in xa.iter().zip(xb).enumerate() {
                if va != vb {
                    return first_difference(va, vb, format!("{path}[{i}]"));
                }
            }
            (
                format!("{path}.length"),
                xa.len().to_string(),
                xb.len().to_string(),
            )
        }
        _ => (path, render(a), render(b)),
    }
}

/// A JSON leaf as shown: strings unquoted, anything else as JSON.
fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[path = "explain_tests.rs"]
mod tests;
