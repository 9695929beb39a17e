//! `addon-operator diff <module>`: what applying the module now would change in the cluster,
//! like `kubectl diff`: each rendered object is sent as a server-side apply dry-run (field
//! manager `addon-operator`, as the operator applies) and the server's answer is compared with
//! the live object; objects of the module's inventory that it no longer renders show as
//! deleted. Secret data is masked.
//!
//! Values: from the running operator when its debug socket answers (they include what hooks
//! set), else the module's files plus the cluster's ConfigMap (no hook values; said on stderr).

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use kube::{Api, Client};
use serde_json::{Map, Value, json};
use values::ConfigValues;

use crate::cli::{DebugSocket, DiffArgs};
use crate::moduleset::LoadedModules;

/// The objects to compare, keyed by `apiVersion/Kind/namespace/name` in apply order.
struct Change {
    /// `group.version.Kind.namespace.name`, kubectl diff's file name.
    label: String,
    before: Option<Value>,
    after: Option<Value>,
}

/// Runs the command: exit code 0 without differences, 1 with.
pub async fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let mut loaded = LoadedModules::load(&args.source)?;
    let module = loaded.find_or_list(&args.module)?.clone();
    let client = Client::try_from(cluster_config(args.kubeconfig.as_deref()).await?)
        .context("building the Kubernetes client")?;
    let namespace = args.source.namespace.clone();
    let (enabled, values) = match operator_values(&args.socket, &module.name).await {
        Ok(found) => found,
        Err(err) => {
            let reason = crate::errors::chain_anyhow(&err);
            eprintln!(
                "note: no running operator answers ({reason}); rendering with the module's \
                 files and ConfigMap {namespace}/{}, without what hooks set",
                args.config_map
            );
            offline_values(&client, &args, &mut loaded, &module).await?
        }
    };
    let mut desired = Vec::new();
    if enabled {
        let renderer = loaded
            .renderers
            .get(&module.key)
            .with_context(|| format!("module {}: no compiled chart", module.name))?;
        let rendered = renderer
            .render(&values, &namespace, &loaded.scopes)
            .with_context(|| format!("rendering module {}", module.name))?;
        desired.extend(module.crds.iter().map(|o| o.object.clone()));
        desired.extend(rendered.into_iter().map(|o| o.object));
        desired.sort_by_key(reconciler::object_rank);
    } else {
        eprintln!(
            "note: module {} is disabled: applying it deletes what its inventory lists",
            module.name
        );
    }
    let changes = compare(&client, &module.name, &namespace, desired).await?;
    let mut out = std::io::stdout().lock();
    let mut differ = false;
    for change in &changes {
        let before = yaml(change.before.as_ref())?;
        let after = yaml(change.after.as_ref())?;
        if before == after {
            continue;
        }
        differ = true;
        let diff = similar::TextDiff::from_lines(&before, &after);
        let (old, new) = (
            format!("live/{}", change.label),
            format!("merged/{}", change.label),
        );
        write!(
            out,
            "{}",
            diff.unified_diff().context_radius(3).header(&old, &new)
        )?;
    }
    out.flush()?;
    Ok(if differ {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `--kubeconfig`, else `KUBECONFIG`, else the kubeconfig of a `dev` running here, else kube's
/// defaults.
async fn cluster_config(flag: Option<&std::path::Path>) -> anyhow::Result<kube::Config> {
    if flag.is_none() && std::env::var_os("KUBECONFIG").is_none() {
        let dev = crate::devlock::running_dev(std::path::Path::new(".addon-operator/dev.json"));
        if let Some(kubeconfig) = dev.map(|d| d.kubeconfig).filter(|k| !k.is_empty()) {
            return crate::client::config(Some(std::path::Path::new(&kubeconfig))).await;
        }
    }
    crate::client::config(flag).await
}

/// The module's enabled state and values as the running operator has them.
async fn operator_values(socket: &DebugSocket, module: &str) -> anyhow::Result<(bool, Value)> {
    let status: crate::status::OperatorStatus = crate::modulelist::ask(socket, "/modules").await?;
    let enabled = status.modules.get(module).is_some_and(|m| m.enabled);
    let values = crate::modulelist::ask(socket, &format!("/values/module/{module}")).await?;
    Ok((enabled, values))
}

/// The module's enabled state (flags only: no `enabled` script runs) and values from its files
/// and the cluster's ConfigMap.
async fn offline_values(
    client: &Client,
    args: &DiffArgs,
    loaded: &mut LoadedModules,
    module: &charts::Module,
) -> anyhow::Result<(bool, Value)> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &args.source.namespace);
    let data = api
        .get_opt(&args.config_map)
        .await
        .with_context(|| {
            format!(
                "reading ConfigMap {}/{}",
                args.source.namespace, args.config_map
            )
        })?
        .and_then(|cm| cm.data)
        .unwrap_or_default();
    let known = loaded.store.known_keys();
    let config = ConfigValues::decode(&data, known).context("invalid ConfigMap")?;
    loaded
        .store
        .apply_config(config)
        .context("invalid ConfigMap")?;
    let enabled_modules = crate::render::enabled_modules(loaded);
    let enabled = enabled_modules.contains(&module.name);
    loaded.store.set_enabled_modules(Some(enabled_modules));
    let values = loaded
        .store
        .module_values(&module.key)
        .with_context(|| format!("module {}", module.name))?;
    Ok((enabled, values))
}

/// Dry-runs every desired object and lists what the inventory holds beyond them.
async fn compare(
    client: &Client,
    module: &str,
    namespace: &str,
    desired: Vec<Value>,
) -> anyhow::Result<Vec<Change>> {
    let mut kinds = Kinds::new(client.clone(), &desired);
    let mut changes = Vec::new();
    let mut seen = BTreeSet::new();
    for object in desired {
        let gvk = gvk(&object)?;
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let resolved = kinds.resolve(&gvk).await?;
        let mut body = object;
        let ns = prepare(&mut body, module, namespace, resolved.as_ref().map(|r| r.1));
        seen.insert((
            gvk.group.clone(),
            gvk.kind.clone(),
            ns.clone(),
            name.clone(),
        ));
        let label = label(&gvk, ns.as_deref(), &name);
        let Some((resource, _)) = resolved else {
            // The kind is served only once its CRD (rendered by the module) is applied.
            changes.push(Change {
                label,
                before: None,
                after: Some(body),
            });
            continue;
        };
        let api = dynamic_api(client, &resource, ns.as_deref());
        let live = api
            .get_opt(&name)
            .await
            .with_context(|| format!("reading {label}"))?;
        if let Some(live) = &live
            && live
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(reconciler::MODULE_LABEL))
                != Some(&module.to_string())
        {
            eprintln!(
                "note: {label} exists and is not labelled {}={module}: the operator applies it \
                 only if it asks to be adopted ({}: \"true\")",
                reconciler::MODULE_LABEL,
                reconciler::ADOPT_ANNOTATION
            );
        }
        let params = PatchParams::apply(reconciler::MANAGER).force().dry_run();
        let merged = api
            .patch(&name, &params, &Patch::Apply(&body))
            .await
            .with_context(|| format!("server-side dry-run apply of {label}"))?;
        changes.push(Change {
            label,
            before: live.map(|o| to_value(&o)).transpose()?,
            after: Some(to_value(&merged)?),
        });
    }
    let reconciler = reconciler::Reconciler::new(client.clone(), namespace);
    let inventory = reconciler
        .inventory(module)
        .await
        .with_context(|| format!("reading the inventory of module {module}"))?;
    for object in inventory.iter().flat_map(|i| i.refs()) {
        let gvk = gvk(&json!({"apiVersion": object.api_version, "kind": object.kind}))?;
        let key = (
            gvk.group.clone(),
            gvk.kind.clone(),
            object.namespace.clone(),
            object.name.clone(),
        );
        if seen.contains(&key) {
            continue;
        }
        let label = label(&gvk, object.namespace.as_deref(), &object.name);
        let Some((resource, _)) = kinds.resolve(&gvk).await? else {
            continue;
        };
        let api = dynamic_api(client, &resource, object.namespace.as_deref());
        let live = api
            .get_opt(&object.name)
            .await
            .with_context(|| format!("reading {label}"))?;
        // Prune deletes only what still carries the module's label.
        let ours = live.as_ref().is_some_and(|o| {
            o.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(reconciler::MODULE_LABEL))
                == Some(&module.to_string())
        });
        if ours {
            changes.push(Change {
                label,
                before: live.map(|o| to_value(&o)).transpose()?,
                after: None,
            });
        }
    }
    Ok(changes)
}

/// What the reconciler does to an object before applying it: the ownership labels, and the
/// namespace defaulted (namespaced kinds) or dropped (cluster-scoped ones); returns the
/// namespace.
fn prepare(body: &mut Value, module: &str, namespace: &str, scope: Option<bool>) -> Option<String> {
    let metadata = body
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})));
    let Some(Value::Object(metadata)) = metadata else {
        return None;
    };
    let labels = metadata.entry("labels").or_insert_with(|| json!({}));
    if let Value::Object(labels) = labels {
        labels.insert(
            reconciler::MANAGED_BY_LABEL.into(),
            reconciler::MANAGER.into(),
        );
        labels.insert(reconciler::MODULE_LABEL.into(), module.into());
    }
    let given = metadata
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    match scope {
        Some(false) => {
            metadata.remove("namespace");
            None
        }
        // Unknown scope (the CRD is not applied yet): as rendered, defaulted when namespaced.
        Some(true) | None => {
            let ns = given.unwrap_or_else(|| namespace.to_string());
            metadata.insert("namespace".into(), ns.clone().into());
            Some(ns)
        }
    }
}

/// kube's API resources by GroupVersionKind, asked once per kind; `None` when the server does
/// not serve the kind (yet).
struct Kinds {
    client: Client,
    cache: HashMap<GroupVersionKind, Option<(ApiResource, bool)>>,
    /// Kinds defined by CRDs among the desired objects.
    rendered_crds: BTreeSet<(String, String)>,
}

impl Kinds {
    fn new(client: Client, desired: &[Value]) -> Kinds {
        let rendered_crds = desired
            .iter()
            .filter(|o| o["kind"] == "CustomResourceDefinition")
            .filter_map(|crd| {
                let spec = &crd["spec"];
                Some((
                    spec["group"].as_str()?.to_string(),
                    spec["names"]["kind"].as_str()?.to_string(),
                ))
            })
            .collect();
        Kinds {
            client,
            cache: HashMap::new(),
            rendered_crds,
        }
    }

    /// `(resource, namespaced)` of `gvk`.
    async fn resolve(
        &mut self,
        gvk: &GroupVersionKind,
    ) -> anyhow::Result<Option<(ApiResource, bool)>> {
        if let Some(found) = self.cache.get(gvk) {
            return Ok(found.clone());
        }
        let found = match kube::discovery::pinned_kind(&self.client, gvk).await {
            Ok((resource, caps)) => Some((resource, caps.scope == Scope::Namespaced)),
            Err(_)
                if self
                    .rendered_crds
                    .contains(&(gvk.group.clone(), gvk.kind.clone())) =>
            {
                None
            }
            Err(err) => {
                return Err(err).with_context(|| {
                    format!(
                        "the cluster does not serve {}/{} {}",
                        gvk.group, gvk.version, gvk.kind
                    )
                });
            }
        };
        self.cache.insert(gvk.clone(), found.clone());
        Ok(found)
    }
}

fn gvk(object: &Value) -> anyhow::Result<GroupVersionKind> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    if api_version.is_empty() || kind.is_empty() {
        bail!("a rendered object has no apiVersion or kind");
    }
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    Ok(GroupVersionKind::gvk(group, version, kind))
}

fn dynamic_api(
    client: &Client,
    resource: &ApiResource,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
        None => Api::all_with(client.clone(), resource),
    }
}

/// kubectl diff's name for an object: `group.version.Kind.namespace.name` (no group for the
/// core group, no namespace for cluster-scoped objects).
fn label(gvk: &GroupVersionKind, namespace: Option<&str>, name: &str) -> String {
    let mut parts = Vec::new();
    if !gvk.group.is_empty() {
        parts.push(gvk.group.as_str());
    }
    parts.extend([gvk.version.as_str(), gvk.kind.as_str()]);
    parts.extend(namespace);
    parts.push(name);
    parts.join(".")
}

fn to_value(object: &DynamicObject) -> anyhow::Result<Value> {
    let mut value = serde_json::to_value(object).context("encoding an object")?;
    if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    Ok(value)
}

/// The YAML both sides of the diff are printed as; Secret data masked.
fn yaml(object: Option<&Value>) -> anyhow::Result<String> {
    let Some(object) = object else {
        return Ok(String::new());
    };
    yaml_json::to_string(&mask_secret(object)).context("printing an object as YAML")
}

/// A Secret with every `data` and `stringData` value replaced by `***` (kubectl diff's mask),
/// so the diff shows which keys exist, never what they hold.
fn mask_secret(object: &Value) -> Value {
    let mut object = object.clone();
    if object["kind"] == "Secret" && object["apiVersion"] == "v1" {
        for field in ["data", "stringData"] {
            if let Some(Value::Object(data)) = object.get_mut(field) {
                let masked: Map<String, Value> = data
                    .keys()
                    .map(|k| (k.clone(), Value::String("***".into())))
                    .collect();
                *data = masked;
            }
        }
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_masked_and_their_keys_kept() {
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s"}, "data": {"password": "c2VjcmV0"}});
        let text = yaml(Some(&secret)).expect("yaml");
        assert!(
            text.contains("password: '***'") || text.contains("password: \"***\""),
            "{text}"
        );
        assert!(!text.contains("c2VjcmV0"), "{text}");
        assert_eq!(mask_secret(&secret)["data"], json!({"password": "***"}));
    }

    #[test]
    fn objects_are_named_as_kubectl_diff_names_them() {
        let deployment = GroupVersionKind::gvk("apps", "v1", "Deployment");
        assert_eq!(
            label(&deployment, Some("ns"), "web"),
            "apps.v1.Deployment.ns.web"
        );
        let namespace = GroupVersionKind::gvk("", "v1", "Namespace");
        assert_eq!(label(&namespace, None, "team-a"), "v1.Namespace.team-a");
    }
}
