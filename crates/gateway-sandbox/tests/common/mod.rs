//! Helpers shared by the simulator test suites: a read answer, and the shape comparison that
//! pins every simulator answer to its provider's fixtures.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

/// One answer, read in full.
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Same key sets and value kinds, recursively. Arrays of equal length compare element by
/// element, otherwise every element against the fixture's first; an empty array only matches
/// an empty fixture array.
pub fn assert_shape(actual: &Value, expected: &Value, at: &str) {
    assert_eq!(kind(actual), kind(expected), "kind at {at}: {actual}");
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let ak: BTreeSet<&String> = a.keys().collect();
            let ek: BTreeSet<&String> = e.keys().collect();
            assert_eq!(ak, ek, "keys at {at}");
            for (k, v) in a {
                assert_shape(v, &e[k], &format!("{at}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(e)) if a.len() == e.len() => {
            for (i, (x, y)) in a.iter().zip(e).enumerate() {
                assert_shape(x, y, &format!("{at}[{i}]"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            // An empty answer proves nothing about its elements' shape: a check against a
            // fixture that has elements needs elements.
            assert!(
                e.is_empty() || !a.is_empty(),
                "empty array at {at}, where the fixture has elements: nothing was checked"
            );
            if let Some(first) = e.first() {
                for (i, x) in a.iter().enumerate() {
                    assert_shape(x, first, &format!("{at}[{i}]"));
                }
            }
        }
        _ => {}
    }
}
