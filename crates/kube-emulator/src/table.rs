//! Response shapes chosen by the `Accept` header: the object itself, a `meta.k8s.io/v1`
//! Table (what `kubectl get` asks for; columns from [`crate::columns`]), or
//! `PartialObjectMetadata` (what kube-rs `metadata_watcher`/`get_metadata` ask for).

use crate::columns::{self, Cell, Column};
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
    let cols = columns(info);
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

/// The columns after Name for a resource.
fn columns(info: &ResourceInfo) -> Vec<Column> {
    let age = Column::new(
        "Age",
        "string",
        Cell::Age(".metadata.creationTimestamp".into()),
    );
    if !info.printer_columns.is_empty() {
        return info.printer_columns.clone();
    }
    let extra = match (info.group.as_str(), info.plural.as_str()) {
        ("", "namespaces") => vec![Column::new(
            "Status",
            "string",
            Cell::Path(".status.phase".into()),
        )],
        ("", "configmaps") => vec![Column::new("Data", "integer", Cell::Count(".data".into()))],
        ("", "secrets") => vec![
            Column::new("Type", "string", Cell::Path(".type".into())),
            Column::new("Data", "integer", Cell::Count(".data".into())),
        ],
        ("", "services") => vec![
            Column::new("Type", "string", Cell::Path(".spec.type".into())),
            Column::new("Cluster-IP", "string", Cell::Path(".spec.clusterIP".into())),
        ],
        ("", "pods") => vec![Column::new(
            "Status",
            "string",
            Cell::Path(".status.phase".into()),
        )],
        ("apps", "deployments" | "statefulsets" | "replicasets") => vec![
            Column::new(
                "Ready",
                "string",
                Cell::Ratio(".status.readyReplicas".into(), ".spec.replicas".into()),
            ),
            Column::new(
                "Up-to-date",
                "integer",
                Cell::Path(".status.updatedReplicas".into()),
            ),
            Column::new(
                "Available",
                "integer",
                Cell::Path(".status.availableReplicas".into()),
            ),
        ],
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            return vec![Column::new(
                "Created At",
                "date",
                Cell::Path(".metadata.creationTimestamp".into()),
            )];
        }
        _ => vec![],
    };
    extra.into_iter().chain([age]).collect()
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
    fn builtin_cells_should_count_and_divide() {
        let reg = crate::resources::Registry::builtin();
        let deploy = reg.find("apps", "v1", "deployments").unwrap();
        let cols = columns(deploy);
        let obj = json!({"spec": {"replicas": 3}, "status": {"readyReplicas": 2}});
        assert_eq!(columns::cell(&cols[0], &obj, 0), json!("2/3"));
        assert_eq!(cols.last().unwrap().name, "Age");
        let cm = reg.find("", "v1", "configmaps").unwrap();
        assert_eq!(
            columns::cell(&columns(cm)[0], &json!({"data": {"a": "1", "b": "2"}}), 0),
            json!(2)
        );
    }
}
