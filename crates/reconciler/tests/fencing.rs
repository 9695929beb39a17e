//! Fenced inventory writes (issue 8 §2): a writer whose read of the inventory is stale (a paused
//! former leader) gets a 409 and overwrites nothing; the new writer's inventory stands.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, cm, names, opts};
use reconciler::{ApplyError, Inventory};

fn inventory_names(inventory: &Inventory) -> Vec<String> {
    names(&inventory.refs().cloned().collect::<Vec<_>>())
}

fn assert_inventory_conflict(err: &ApplyError, action: &str) {
    assert!(
        matches!(err, ApplyError::InventoryConflict { action: a, module, .. }
            if *a == action && module == "mod-a"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("inventory secret addon-operator/addon-operator-inventory-mod-a"),
        "{err}"
    );
}

#[tokio::test]
async fn a_stale_writers_inventory_write_fails_and_the_stored_inventory_is_the_new_writers() {
    let h = Harness::start().await;
    h.apply("mod-a", vec![cm("a-0", "v")]).await;
    // The old leader has read the inventory and is about to write its pending inventory when
    // it is paused; the new leader applies meanwhile.
    let (old_leader, gate) = h.gated_reconciler("PUT", "/secrets/addon-operator-inventory-mod-a");
    let stale = tokio::spawn(async move {
        old_leader
            .apply_module("mod-a", vec![cm("a-0", "v"), cm("stale", "v")], &opts())
            .await
    });
    gate.arrived().await;
    let report = h
        .apply("mod-a", vec![cm("a-0", "v"), cm("fresh", "v")])
        .await;
    assert_eq!(names(&report.created), ["fresh"]);
    let stored = h.reconciler.inventory("mod-a").await.unwrap().unwrap();
    gate.open();
    let err = stale.await.unwrap().unwrap_err();
    assert_inventory_conflict(&err, "write");
    let after = h.reconciler.inventory("mod-a").await.unwrap().unwrap();
    assert_eq!(after, stored, "the new leader's inventory was overwritten");
    assert_eq!(inventory_names(&after), ["a-0", "fresh"]);
    assert!(
        h.config_map("stale").await.is_none(),
        "the stale writer created an object although its inventory write failed"
    );
}

#[tokio::test]
async fn creating_an_inventory_never_overwrites_one_that_appeared_meanwhile() {
    let h = Harness::start().await;
    let (old_leader, gate) = h.gated_reconciler("POST", "/secrets");
    let stale = tokio::spawn(async move {
        old_leader
            .apply_module("mod-a", vec![cm("stale", "v")], &opts())
            .await
    });
    gate.arrived().await;
    h.apply("mod-a", vec![cm("fresh", "v")]).await;
    gate.open();
    let err = stale.await.unwrap().unwrap_err();
    assert_inventory_conflict(&err, "write");
    let after = h.reconciler.inventory("mod-a").await.unwrap().unwrap();
    assert_eq!(inventory_names(&after), ["fresh"]);
    assert!(h.config_map("stale").await.is_none());
}

#[tokio::test]
async fn a_stale_delete_module_keeps_the_inventory_another_writer_stored() {
    let h = Harness::start().await;
    h.apply("mod-a", vec![cm("a-0", "v")]).await;
    let (old_leader, gate) =
        h.gated_reconciler("DELETE", "/secrets/addon-operator-inventory-mod-a");
    let stale = tokio::spawn(async move { old_leader.delete_module("mod-a").await });
    gate.arrived().await;
    // The new leader re-enables the module with another object before the delete lands.
    h.apply("mod-a", vec![cm("b-0", "v")]).await;
    gate.open();
    let err = stale.await.unwrap().unwrap_err();
    assert_inventory_conflict(&err, "delete");
    let after = h.reconciler.inventory("mod-a").await.unwrap().unwrap();
    assert_eq!(inventory_names(&after), ["b-0"]);
}
