//! Paginated LIST cost as the store grows: what a kube-rs watcher's initial list costs.
//!
//! Run: `cargo bench -p kube-emulator --bench list_pages` (release build, ~10 s).
//!
//! For 10,000 and 50,000 ConfigMaps (8 data keys, ~1 KiB each, one namespace, loaded from a
//! state file so the setup takes no requests), one kube-rs client lists them the way
//! kube-runtime's `watcher` does: pages of 500 with a label selector, following `continue`
//! tokens. Prints the time of the whole walk and of its first, middle and last page (best of 3
//! walks). A page's cost must not depend on where it is in the list, so the total grows
//! linearly with the objects.
#![allow(clippy::unwrap_used, missing_docs)]

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use kube_emulator::{Config, Emulator};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const SIZES: [usize; 2] = [10_000, 50_000];
const PAGE: u32 = 500;
const NS: &str = "bench-list";

/// A state file holding `n` labelled ConfigMaps in [`NS`].
fn write_state(path: &Path, n: usize) {
    let data: serde_json::Map<String, Value> = (0..8)
        .map(|k| (format!("key-{k}"), json!(format!("value {k} ").repeat(12))))
        .collect();
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": NS, "uid": "ns", "resourceVersion": "2"}});
    let mut objects = vec![json!({"group": "", "resource": "namespaces", "object": namespace})];
    objects.extend((0..n).map(|i| {
        json!({"group": "", "resource": "configmaps", "object": {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("w{i}"), "namespace": NS, "uid": format!("u{i}"),
                "resourceVersion": (i + 3).to_string(),
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"bench": "watched"}},
            "data": data}})
    }));
    let state = json!({"resourceVersion": n + 3, "objects": objects});
    std::fs::write(path, serde_json::to_vec(&state).unwrap()).unwrap();
}

/// One walk over every page: each page's latency.
async fn walk(api: &Api<ConfigMap>) -> (usize, Vec<Duration>) {
    let mut lp = ListParams::default().labels("bench=watched").limit(PAGE);
    let (mut objects, mut pages) = (0, Vec::new());
    loop {
        let t = Instant::now();
        let page = api.list(&lp).await.unwrap();
        pages.push(t.elapsed());
        objects += page.items.len();
        match page.metadata.continue_ {
            Some(tok) if !tok.is_empty() => lp = lp.continue_token(&tok),
            _ => return (objects, pages),
        }
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!(
            "| ConfigMaps | pages of {PAGE} | whole list | first page | middle page | last page |"
        );
        println!("| --- | --- | --- | --- | --- | --- |");
        for n in SIZES {
            let dir = tempfile::tempdir().unwrap();
            let state = dir.path().join("state.json");
            write_state(&state, n);
            let config = Config {
                state_file: Some(state),
                ..Config::default()
            };
            let emu = Emulator::start_with(config).await.unwrap();
            let url = emu.url().parse().unwrap();
            let api = Api::namespaced(kube::Client::try_from(kube::Config::new(url)).unwrap(), NS);
            let mut best: Option<(Duration, Vec<Duration>)> = None;
            for _ in 0..3 {
                let t = Instant::now();
                let (objects, pages) = walk(&api).await;
                let total = t.elapsed();
                assert_eq!(objects, n, "every object listed once");
                if best.as_ref().is_none_or(|(b, _)| total < *b) {
                    best = Some((total, pages));
                }
            }
            let (total, pages) = best.unwrap();
            let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
            println!(
                "| {n} | {} | {} | {} | {} | {} |",
                pages.len(),
                ms(total),
                ms(pages[0]),
                ms(pages[pages.len() / 2]),
                ms(pages[pages.len() - 1])
            );
            emu.shutdown().await;
        }
    });
}
