//! `meta.k8s.io/v1` Table output, which `kubectl get` asks for: Name and Age columns for
//! every resource (kube-apiserver adds per-kind columns; the emulator does not).

use crate::meta;
use serde_json::{Value, json};

/// A Table of `objects` with list metadata.
pub fn table(objects: &[Value], rv: &str, cont: Option<&str>) -> Value {
    let now = meta::now_secs();
    let rows: Vec<Value> = objects.iter().map(|o| row(o, now)).collect();
    let mut metadata = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        metadata["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0},
            {"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp is the time the object was created.", "priority": 0},
        ],
        "rows": rows,
    })
}

fn row(obj: &Value, now: i64) -> Value {
    let created = meta::parse_rfc3339(meta::meta_str(obj, "creationTimestamp")).unwrap_or(now);
    let mut metadata = obj["metadata"].clone();
    if let Some(m) = metadata.as_object_mut() {
        m.remove("managedFields");
    }
    json!({
        "cells": [meta::meta_str(obj, "name"), age(now - created)],
        "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata},
    })
}

/// Kubernetes' short human duration (`45s`, `3m12s`, `5h`, `2d`).
pub fn age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=599 => format!("{}m{}s", s / 60, s % 60),
        600..=10_799 => format!("{}m", s / 60),
        10_800..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_should_read_like_kubectl() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(200), "3m20s");
        assert_eq!(age(4000), "66m");
        assert_eq!(age(90_000), "25h");
        assert_eq!(age(400_000), "4d");
    }
}
