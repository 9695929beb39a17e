//! Locking that survives a poisoned mutex: the engine's maps and flags stay usable after a
//! thread panicked while holding one (the panic is reported where it happened).

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, taking the data of a poisoned lock as it is.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
