//! Normalisation kube-apiserver applies to every write of some kinds: Secrets fold
//! `stringData` into base64 `data` (and reject data that is not base64), Namespaces carry
//! the immutable `kubernetes.io/metadata.name` label.

use crate::meta;
use crate::resources::ResourceInfo;
use crate::status::{ApiError, ApiResult};
use base64::Engine;
use serde_json::{Value, json};

/// Normalises an object about to be stored.
pub fn normalize(info: &ResourceInfo, obj: &mut Value) -> ApiResult<()> {
    if !info.group.is_empty() {
        return Ok(());
    }
    match info.plural.as_str() {
        "secrets" => fold_string_data(obj),
        "namespaces" => {
            let name = meta::meta_str(obj, "name").to_string();
            let m = meta::metadata_mut(obj);
            if !m.get("labels").is_some_and(Value::is_object) {
                m.insert("labels".into(), json!({}));
            }
            m["labels"]["kubernetes.io/metadata.name"] = json!(name);
            Ok(())
        }
        _ => Ok(()),
    }
}

fn fold_string_data(obj: &mut Value) -> ApiResult<()> {
    let engine = base64::engine::general_purpose::STANDARD;
    if let Some(data) = obj.get("data").and_then(Value::as_object) {
        for (k, v) in data {
            let valid = v.as_str().is_some_and(|s| engine.decode(s).is_ok());
            if !valid {
                return Err(ApiError::bad_request(format!(
                    "Secret in version \"v1\" cannot be handled as a Secret: data[{k}] is not valid base64"
                )));
            }
        }
    }
    let Some(string_data) = obj.as_object_mut().and_then(|m| m.remove("stringData")) else {
        return Ok(());
    };
    let Some(entries) = string_data.as_object() else {
        return Err(ApiError::bad_request(
            "Secret stringData must be a map of strings",
        ));
    };
    if !obj.get("data").is_some_and(Value::is_object) {
        obj["data"] = json!({});
    }
    for (k, v) in entries {
        let text = v.as_str().ok_or_else(|| {
            ApiError::bad_request(format!("Secret stringData[{k}] must be a string"))
        })?;
        obj["data"][k] = json!(engine.encode(text));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn secrets_should_fold_string_data_into_base64_data() {
        let reg = Registry::builtin();
        let info = reg.find("", "v1", "secrets").unwrap();
        let mut s =
            json!({"metadata": {"name": "s"}, "data": {"a": "eA=="}, "stringData": {"b": "y"}});
        normalize(info, &mut s).unwrap();
        assert_eq!(
            s,
            json!({"metadata": {"name": "s"}, "data": {"a": "eA==", "b": "eQ=="}})
        );
        let mut bad = json!({"metadata": {"name": "s"}, "data": {"a": "not base64!"}});
        assert_eq!(normalize(info, &mut bad).unwrap_err().kind.code(), 400);
    }

    #[test]
    fn namespaces_should_carry_their_name_label() {
        let reg = Registry::builtin();
        let info = reg.find("", "v1", "namespaces").unwrap();
        let mut ns = json!({"metadata": {"name": "team"}});
        normalize(info, &mut ns).unwrap();
        assert_eq!(
            ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "team"
        );
    }
}
