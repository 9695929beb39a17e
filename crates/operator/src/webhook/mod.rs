//! The webhook server: hooks' `kubernetesValidating` and `kubernetesMutating` bindings served
//! over HTTPS on one port, `kubernetesCustomResourceConversion` on another, with a certificate
//! from a Secret (generated and rotated unless the user names one), and the webhook
//! configurations and CRD conversion settings that point the API server at them.
//!
//! # Guarantees
//! - Every replica serves webhooks, from before leader election on: admission never waits for
//!   the lease. Only the leader rotates the generated certificate and writes configurations.
//! - Replicas share the certificate through its Secret and reload it when it changes, without
//!   a restart; the leader rewrites the caBundles.
//! - The configurations list the webhook bindings of the global hooks and of enabled modules;
//!   what is no longer served is removed.

mod certs;
mod register;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use hooks::{AdmissionKind, HookEngine, HookSet, Webhooks};
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::watcher;
use kube::{Api, Client};
use serde_json::Value;
use tokio::sync::watch;

use crate::control::changed_or_never;
use crate::shared::Shared;
use crate::webhook_flags::WebhookArgs;

/// Name of the Secret holding a generated certificate.
pub const GENERATED_SECRET: &str = "addon-operator-webhook-tls";

/// The running webhook part of one replica.
pub struct Running {
    leading: watch::Sender<bool>,
}

impl Running {
    /// Follows `leading` (this replica's leadership): while it holds, this replica rotates the
    /// generated certificate and writes configurations.
    pub fn lead(&self, mut leading: watch::Receiver<bool>) {
        let tx = self.leading.clone();
        tokio::spawn(async move {
            loop {
                tx.send_replace(*leading.borrow_and_update());
                if leading.changed().await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Loads the hooks (so a standby replica can answer), starts the two HTTPS servers when a hook
/// declares a webhook binding, and the certificate and configuration loops.
///
/// `client` writes the webhook configurations and CRD `caBundle`s (the operator's fenced
/// client: only the leader writes); `secrets_client` reads and writes the certificate Secret,
/// which every replica may need to create before any of them leads — those writes are safe
/// without the fence (a create never overwrites, a renewal carries a resourceVersion).
///
/// # Errors
/// A hook config that does not load, an unusable certificate, or a port that cannot be bound.
pub async fn start(
    client: &Client,
    secrets_client: &Client,
    namespace: &str,
    args: &WebhookArgs,
    engine: Arc<HookEngine>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Running> {
    let (leading_tx, leading) = watch::channel(false);
    let running = Running {
        leading: leading_tx,
    };
    load_hooks(&engine, &shared).await?;
    let webhooks = Arc::new(Webhooks::new(engine));
    let sets = all_sets(&shared);
    let endpoints = register::Endpoints {
        namespace: namespace.to_string(),
        configuration: args.validating_webhook_configuration_name.clone(),
        admission_service: args.validating_webhook_service_name.clone(),
        conversion_service: args.conversion_webhook_service_name.clone(),
    };
    let any = !webhooks.admission_bindings(&sets).is_empty()
        || !webhooks.conversion_bindings(&sets).is_empty();
    let (ca_tx, ca) = watch::channel(String::new());
    if any {
        let secrets: Api<Secret> = Api::namespaced(secrets_client.clone(), namespace);
        let certs = Certs::new(args, secrets, &endpoints);
        let bundle = certs.initial().await?;
        ca_tx.send_replace(bundle.bundle.ca.clone());
        let resolver = tls::Reloadable::new(&bundle.bundle)?;
        for (address, port, router) in [
            (
                &args.validating_webhook_listen_address,
                args.validating_webhook_listen_port,
                admission_router(webhooks.clone()),
            ),
            (
                &args.conversion_webhook_listen_address,
                args.conversion_webhook_listen_port,
                conversion_router(webhooks.clone()),
            ),
        ] {
            let addr: SocketAddr = format!("{address}:{port}")
                .parse()
                .with_context(|| format!("invalid webhook listen address {address}:{port}"))?;
            let bound = tls::serve(addr, router, resolver.clone(), shutdown.clone()).await?;
            tracing::info!(address = %bound, "serving webhooks over HTTPS");
        }
        tokio::spawn(certs.run(bundle, resolver, ca_tx, leading.clone(), shutdown.clone()));
    }
    tokio::spawn(register_loop(
        client.clone(),
        endpoints,
        webhooks,
        shared,
        ca,
        leading,
        shutdown,
    ));
    Ok(running)
}

/// Loads the global hooks and every module's hooks into the engine, as the operator's startup
/// does, so that a replica that does not lead can answer webhooks.
async fn load_hooks(engine: &HookEngine, shared: &Shared) -> anyhow::Result<()> {
    let (global, modules) = {
        let m = shared.modules();
        let modules: Vec<(String, std::path::PathBuf)> = m
            .set
            .modules()
            .iter()
            .filter_map(|m| m.hooks_dir.clone().map(|d| (m.name.clone(), d)))
            .collect();
        (Some(m.source.global_hooks_dir.clone()), modules)
    };
    if let Some(dir) = global.filter(|d| d.is_dir()) {
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        engine
            .load(HookSet::Global, &dir)
            .await
            .context("loading global hooks")?;
    }
    for (name, dir) in modules {
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        engine
            .load(HookSet::Module(name.clone()), &dir)
            .await
            .with_context(|| format!("loading hooks of module {name}"))?;
    }
    Ok(())
}

/// Every hook set: global, then each module.
fn all_sets(shared: &Shared) -> Vec<HookSet> {
    let mut sets = vec![HookSet::Global];
    sets.extend(
        shared
            .modules()
            .set
            .modules()
            .iter()
            .map(|m| HookSet::Module(m.name.clone())),
    );
    sets
}

/// The hook sets whose webhooks are registered: global, and the enabled modules.
fn served_sets(shared: &Shared) -> Vec<HookSet> {
    let mut sets = vec![HookSet::Global];
    sets.extend(
        shared
            .status()
            .modules
            .values()
            .filter(|m| m.enabled)
            .map(|m| HookSet::Module(m.name.clone())),
    );
    sets
}

fn admission_router(webhooks: Arc<Webhooks>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/validating/{name}",
            post(
                |State(w): State<Arc<Webhooks>>, Path(name): Path<String>, body: Bytes| async move {
                    admit(&w, AdmissionKind::Validating, &name, &body).await
                },
            ),
        )
        .route(
            "/mutating/{name}",
            post(
                |State(w): State<Arc<Webhooks>>, Path(name): Path<String>, body: Bytes| async move {
                    admit(&w, AdmissionKind::Mutating, &name, &body).await
                },
            ),
        )
        .with_state(webhooks)
}

fn conversion_router(webhooks: Arc<Webhooks>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/{crd}",
            post(
                |State(w): State<Arc<Webhooks>>, Path(crd): Path<String>, body: Bytes| async move {
                    match review(&body) {
                        Ok(r) => answer(w.convert(&crd, r).await, "conversion webhook", &crd),
                        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
                    }
                },
            ),
        )
        .with_state(webhooks)
}

/// The review in a request body, or why shell-operator answers 400.
fn review(body: &[u8]) -> Result<Value, &'static str> {
    let review: Value = serde_json::from_slice(body).map_err(|_| "Invalid JSON payload")?;
    if review["request"].is_null() {
        return Err("Missing parameters: request");
    }
    Ok(review)
}

fn answer(result: Option<Value>, what: &str, name: &str) -> Response {
    match result {
        Some(r) => Json(r).into_response(),
        // kube-apiserver applies the webhook's failure policy.
        None => (
            StatusCode::NOT_FOUND,
            format!("no hook serves the {what} {name}\n"),
        )
            .into_response(),
    }
}

async fn admit(w: &Webhooks, kind: AdmissionKind, name: &str, body: &[u8]) -> Response {
    match review(body) {
        Ok(r) => answer(w.admit(kind, name, r).await, "webhook", name),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

/// The certificate's source and its maintenance.
struct Certs {
    secrets: Api<Secret>,
    user_secret: Option<String>,
    store: certs::Store,
}

impl Certs {
    fn new(args: &WebhookArgs, secrets: Api<Secret>, ep: &register::Endpoints) -> Self {
        let mut dns_names = Vec::new();
        for svc in [&ep.admission_service, &ep.conversion_service] {
            let ns = &ep.namespace;
            for name in [
                svc.clone(),
                format!("{svc}.{ns}"),
                format!("{svc}.{ns}.svc"),
                format!("{svc}.{ns}.svc.cluster.local"),
            ] {
                if !dns_names.contains(&name) {
                    dns_names.push(name);
                }
            }
        }
        Certs {
            store: certs::Store {
                api: secrets.clone(),
                name: GENERATED_SECRET.to_string(),
                validity: Duration::from_secs_f64(args.webhook_cert_validity.max(1.0)),
                dns_names,
            },
            secrets,
            user_secret: args.webhook_tls_secret.clone(),
        }
    }

    fn secret_name(&self) -> &str {
        self.user_secret.as_deref().unwrap_or(&self.store.name)
    }

    /// The certificate to start with: the user's Secret, or the generated one (created if
    /// missing; a due one is served until the leader renews it).
    async fn initial(&self) -> anyhow::Result<Loaded> {
        match &self.user_secret {
            Some(name) => {
                let secret = self
                    .secrets
                    .get(name)
                    .await
                    .with_context(|| format!("reading the webhook TLS Secret {name}"))?;
                Ok(Loaded {
                    bundle: certs::bundle_of(&secret)?,
                    generated: None,
                })
            }
            None => {
                let g = self.store.ensure(false).await?;
                Ok(Loaded {
                    bundle: g.bundle.clone(),
                    generated: Some(g),
                })
            }
        }
    }

    /// Reloads the certificate whenever its Secret changes; the leader renews a generated one
    /// when it is due.
    async fn run(
        self,
        mut current: Loaded,
        resolver: Arc<tls::Reloadable>,
        ca: watch::Sender<String>,
        mut leading: watch::Receiver<bool>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let config =
            watcher::Config::default().fields(&format!("metadata.name={}", self.secret_name()));
        let mut events = watcher::watcher(self.secrets.clone(), config).boxed();
        loop {
            let renew_in = match (&current.generated, *leading.borrow()) {
                (Some(g), true) => Some(g.until_due(self.store.validity)),
                _ => None,
            };
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s))) => {
                        if let Ok(bundle) = certs::bundle_of(&s) {
                            current.generated = self.user_secret.is_none().then(|| certs::Generated::from_secret(&s)).flatten();
                            current.set(bundle, &resolver, &ca);
                        }
                    }
                    Some(Err(e)) => tracing::debug!(error = %e, "webhook certificate watch error; retrying"),
                    Some(_) => {}
                    None => return,
                },
                _ = sleep_opt(renew_in) => match self.store.ensure(true).await {
                    Ok(g) => {
                        current.set(g.bundle.clone(), &resolver, &ca);
                        current.generated = Some(g);
                    }
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "renewing the webhook certificate failed; retrying");
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                },
                _ = changed_or_never(&mut leading) => {}
                _ = changed_or_never(&mut shutdown) => if *shutdown.borrow() { return },
            }
        }
    }
}

/// The served certificate.
struct Loaded {
    bundle: certs::Bundle,
    generated: Option<certs::Generated>,
}

impl Loaded {
    fn set(
        &mut self,
        bundle: certs::Bundle,
        resolver: &tls::Reloadable,
        ca: &watch::Sender<String>,
    ) {
        if bundle == self.bundle {
            return;
        }
        match resolver.set(&bundle) {
            Ok(()) => {
                tracing::info!("webhook certificate reloaded");
                ca.send_replace(bundle.ca.clone());
                self.bundle = bundle;
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "the webhook certificate Secret is unusable; keeping the current one")
            }
        }
    }
}

async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// The leader's loop: keeps the configurations and CRDs matching the served bindings. It
/// re-checks every second (in memory), when a CRD changes, when the CA changes and when
/// leadership changes, and writes only when the desired state differs from what it wrote.
async fn register_loop(
    client: Client,
    ep: register::Endpoints,
    webhooks: Arc<Webhooks>,
    shared: Arc<Shared>,
    mut ca: watch::Receiver<String>,
    mut leading: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let crds = register::crd_api(&client);
    let mut crd_events = watcher::watcher(crds, watcher::Config::default()).boxed();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last: Option<register::Desired> = None;
    loop {
        let mut dirty = false;
        tokio::select! {
            _ = tick.tick() => {}
            event = crd_events.next() => match event {
                Some(Ok(watcher::Event::Apply(c) | watcher::Event::InitApply(c) | watcher::Event::Delete(c))) => {
                    let name = c.metadata.name.unwrap_or_default();
                    dirty = last.as_ref().is_some_and(|l| l.conversions.contains_key(&name));
                }
                Some(_) => {}
                None => crd_events = futures::stream::pending().boxed(),
            },
            // Without webhook bindings nothing sends a CA: its sender is gone.
            _ = changed_or_never(&mut ca) => {}
            _ = changed_or_never(&mut leading) => {}
            _ = changed_or_never(&mut shutdown) => if *shutdown.borrow() { return },
        }
        // Until the first convergence resolved which modules are enabled, the served set is
        // unknown: writing then would drop the webhooks of every module for a while.
        if !*leading.borrow() || !shared.status().converged {
            last = None;
            continue;
        }
        let sets = served_sets(&shared);
        let desired = register::desired(
            &ep,
            &ca.borrow(),
            &webhooks.admission_bindings(&sets),
            &webhooks.conversion_bindings(&sets),
        );
        if !dirty && last.as_ref() == Some(&desired) {
            continue;
        }
        match register::apply(&client, &ep, &desired).await {
            Ok(()) => last = Some(desired),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "writing webhook configurations failed; retrying");
                last = None;
            }
        }
    }
}
