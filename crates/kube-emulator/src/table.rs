//! Response shapes chosen by the `Accept` header: the object itself, a `meta.k8s.io/v1`
//! Table (what `kubectl get` asks for; columns from [`crate::columns`]), or
//! `PartialObjectMetadata` (what kube-rs `metadata_watcher`/`get_metadata` ask for).

use crate::columns::{self, Column};
use crate::meta;
use crate::resources::ResourceInfo;
use serde_json::{Value, json};

/// What a read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The object (or `<Kind>List`).
    Object,
    /// `Table`.
    Table,
    /// `PartialObjectMetadata` (or `PartialObjectMetadataList`).
    Metadata,
}

impl Shape {
    /// The shape the first acceptable `Accept` entry asks for; `Object` otherwise.
    pub fn from_accept(accept: &str) -> Shape {
        for part in accept.split(',') {
            let meta_group = part.contains("g=meta.k8s.io") || !part.contains("g=");
            if part.contains("as=Table") && meta_group {
                return Shape::Table;
            }
            if part.contains("as=PartialObjectMetadata") && meta_group {
                return Shape::Metadata;
            }
            if part.contains("json") || part.contains("*/*") {
                return Shape::Object;
            }
        }
        Shape::Object
    }

    /// One object (get, watch events) in this shape.
    pub fn one(self, info: &ResourceInfo, obj: Value) -> Value {
        match self {
            Shape::Object => obj,
            Shape::Metadata => partial(&obj),
            Shape::Table => {
                let rv = meta::meta_str(&obj, "resourceVersion").to_string();
                table(info, std::slice::from_ref(&obj), &rv, None)
            }
        }
    }

    /// A list in this shape; `list_meta` holds resourceVersion and continue.
    pub fn list(self, info: &ResourceInfo, items: Vec<Value>, list_meta: Value) -> Value {
        match self {
            Shape::Object => json!({
                "kind": format!("{}List", info.kind),
                "apiVersion": info.api_version(),
                "metadata": list_meta,
                "items": items,
            }),
            Shape::Metadata => json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": list_meta,
                "items": items.iter().map(partial).collect::<Vec<_>>(),
            }),
            Shape::Table => {
                let rv = list_meta["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                table(
                    info,
                    &items,
                    &rv,
                    list_meta.get("continue").and_then(Value::as_str),
                )
            }
        }
    }
}

/// The `PartialObjectMetadata` of an object (its metadata, typed as meta.k8s.io/v1).
pub fn partial(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]})
}

/// A Table of `objects` with list metadata.
pub fn table(info: &ResourceInfo, objects: &[Value], rv: &str, cont: Option<&str>) -> Value {
    let now = meta::now_secs();
    let cols = columns::columns(info);
    let rows: Vec<Value> = objects.iter().map(|o| row(&cols, o, now)).collect();
    let mut metadata = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        metadata["continue"] = json!(c);
    }
    let mut defs = vec![json!({"name": "Name", "type": "string", "format": "name",
        "description": "Name must be unique within a namespace.", "priority": 0})];
    defs.extend(cols.iter().map(|c| {
        let kind = if c.kind == "date" {
            "string"
        } else {
            c.kind.as_str()
        };
        json!({"name": c.name, "type": kind, "format": "", "description": "", "priority": 0})
    }));
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": defs,
        "rows": rows,
    })
}

fn row(cols: &[Column], obj: &Value, now: i64) -> Value {
    let mut metadata = obj["metadata"].clone();
    if let Some(m) = metadata.as_object_mut() {
        m.remove("managedFields");
    }
    let mut cells = vec![json!(meta::meta_str(obj, "name"))];
    cells.extend(cols.iter().map(|c| columns::cell(c, obj, now)));
    json!({
        "cells": cells,
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
    use serde_json::json;

    #[test]
    fn accept_headers_should_choose_the_shape() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(Shape::from_accept(kubectl), Shape::Table);
        let kube_rs = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
        assert_eq!(Shape::from_accept(kube_rs), Shape::Metadata);
        assert_eq!(
            Shape::from_accept("application/vnd.kubernetes.protobuf, */*"),
            Shape::Object
        );
        assert_eq!(Shape::from_accept(""), Shape::Object);
        let reg = crate::resources::Registry::builtin();
        let cm = reg.find("", "v1", "configmaps").unwrap();
        let p = Shape::Metadata.one(cm, json!({"kind": "ConfigMap", "metadata": {"name": "a"}}));
        assert_eq!(
            p,
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "a"}})
        );
    }

    #[test]
    fn ages_should_read_like_kubectl() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(200), "3m20s");
        assert_eq!(age(4000), "66m");
        assert_eq!(age(90_000), "25h");
        assert_eq!(age(400_000), "4d");
    }
}
