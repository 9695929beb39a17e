//! A Kubernetes API server emulator for tests and `addon-operator dev`.
//!
//! It serves the Kubernetes REST API over plain HTTP on 127.0.0.1 — discovery, the built-in
//! resources, CustomResourceDefinitions, watches, server-side apply, status errors — so
//! kube-rs and `kubectl` work against it unchanged. It is a real server, not a mock: requests
//! go over sockets, writes produce watch events, errors are `Status` objects with real codes.
//! It does **not** run controllers (no Pods are scheduled, Deployments do not create
//! ReplicaSets; [`Config::simulate_workloads`] can fake their readiness), and it answers in
//! JSON only (protobuf
//! `Accept` headers get JSON; protobuf request bodies are decoded for every built-in kind and
//! `DeleteOptions`, as client-go sends them). It calls admission webhooks and CRD conversion
//! webhooks over HTTPS as kube-apiserver does ([`Controls::map_service`] reaches a `service`
//! clientConfig). With [`Config::authorization`] it authenticates ServiceAccount bearer
//! tokens and authorizes every request with RBAC (off by default: everything is allowed). `docs/kube-emulator.md` lists every approximation.
//!
//! Principal types:
//! - [`Emulator`]: a running server ([`Emulator::start`], [`Emulator::url`],
//!   [`Emulator::kubeconfig`], [`Emulator::shutdown`]).
//! - [`Config`]: port, state file, watch history size, bookmark period, workload simulation,
//!   authorization.
//! - [`Controls`]: request counters and fault injection (also served under `/_emulator/`).
//! - [`app`] builds the axum [`axum::Router`] from an [`AppState`], for embedding.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use kube_emulator::Emulator;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let emu = Emulator::start().await.unwrap();
//! assert!(emu.url().starts_with("http://127.0.0.1:"));
//! let addr = emu.url().trim_start_matches("http://").to_string();
//! let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
//! conn.write_all(b"GET /api/v1/namespaces/default HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
//! let mut reply = String::new();
//! conn.read_to_string(&mut reply).await.unwrap();
//! assert!(reply.starts_with("HTTP/1.1 200"));
//! assert!(reply.contains("\"phase\":\"Active\""));
//! assert_eq!(emu.controls().count("get", "namespaces"), 1);
//! emu.shutdown().await;
//! # });
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod admin;
mod admission;
mod api;
mod authz;
mod cel;
mod columns;
mod config;
mod controls;
mod conversion;
mod defaults;
mod discovery;
mod error;
mod hooked;
mod kubeconfig;
mod lifecycle;
mod meta;
mod objects;
mod params;
mod patch;
mod persistence;
mod protobuf;
mod rbac;
mod read;
mod request;
mod resources;
mod route;
mod scale;
mod selectors;
mod server;
mod simulate;
mod state;
mod status;
mod store;
mod table;
mod tokens;
mod validation;
mod watch;
mod webhook_client;
mod write;

pub use config::Config;
pub use controls::{Controls, DRY_RUN_SUFFIX};
pub use discovery::KUBERNETES_VERSION;
pub use error::Error;
pub use server::{Emulator, app};
pub use state::AppState;
pub use status::{ApiError, Cause, ErrorKind};
