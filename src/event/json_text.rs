//! [`JsonText`]: JSON kept verbatim as text (an unknown event's body, an
//! `other` event's metadata), serialised as the JSON value it holds.
//!
//! Its stored (bincode) form is the text; its serde form is the value, key
//! order kept. No I/O.

use bincode::{Decode, Encode};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// JSON text kept verbatim (unknown events, `Other` metadata).
///
/// Serialises as the JSON value it holds, not as a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Encode, Decode)]
pub struct JsonText(pub String);

impl Serialize for JsonText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match serde_json::value::RawValue::from_string(self.0.clone()) {
            Ok(raw) => raw.serialize(serializer),
            Err(err) => Err(serde::ser::Error::custom(format!(
                "stored JSON text is not valid JSON: {err}"
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<JsonText, D::Error> {
        // Through `Value` (key order kept): inside internally tagged enums the
        // content is buffered, and a `RawValue` cannot be read from a buffer.
        let value = serde_json::Value::deserialize(deserializer)?;
        serde_json::to_string(&value)
            .map(JsonText)
            .map_err(D::Error::custom)
    }
}
