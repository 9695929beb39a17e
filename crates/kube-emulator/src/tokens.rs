//! Bearer tokens issued through the TokenRequest API (`serviceaccounts/<name>/token`), each
//! bound to one ServiceAccount object (its uid), as kube-apiserver's bound tokens are: a
//! token stops working when its ServiceAccount is deleted, even if one of the same name is
//! created again.

use std::collections::HashMap;
use std::sync::Mutex;

/// The ServiceAccount a token was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundAccount {
    /// Namespace of the ServiceAccount.
    pub namespace: String,
    /// Name of the ServiceAccount.
    pub name: String,
    /// uid of the ServiceAccount object when the token was issued.
    pub uid: String,
}

/// Issued tokens (in memory: they do not survive a restart, like short-lived tokens).
#[derive(Debug, Default)]
pub struct Tokens {
    issued: Mutex<HashMap<String, BoundAccount>>,
}

impl Tokens {
    /// Records `token` as one of `account`'s.
    pub fn insert(&self, token: String, account: BoundAccount) {
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token, account);
    }

    /// The account `token` was issued for, if it was.
    pub fn get(&self, token: &str) -> Option<BoundAccount> {
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
    }
}
