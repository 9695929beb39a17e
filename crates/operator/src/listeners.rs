//! Local ports `dev` picks for its servers, held from the pick until a server listens there:
//! picking a free port and binding it later lets another process (a second `dev`, a parallel
//! test) take it in between, and the server then fails with "address already in use".

use std::net::SocketAddr;
use std::sync::Mutex;

use anyhow::Context;

/// Listeners bound by [`reserve`] and not yet taken by [`bind`].
static RESERVED: Mutex<Vec<std::net::TcpListener>> = Mutex::new(Vec::new());

/// Binds a free port on `address` (the kernel's pick) and keeps it for the server that
/// [`bind`]s it; returns the port.
///
/// # Errors
/// The address does not parse or cannot be bound.
pub fn reserve(address: &str) -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind((address, 0))
        .with_context(|| format!("finding a free port on {address}"))?;
    let port = listener
        .local_addr()
        .with_context(|| format!("finding a free port on {address}"))?
        .port();
    RESERVED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(listener);
    Ok(port)
}

/// A listener on `addr`: the one [`reserve`] holds for it, else a new bind.
///
/// # Errors
/// As [`tokio::net::TcpListener::bind`].
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let reserved = {
        let mut held = RESERVED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = held
            .iter()
            .position(|l| l.local_addr().is_ok_and(|a| a == addr));
        at.map(|i| held.swap_remove(i))
    };
    match reserved {
        Some(listener) => {
            listener.set_nonblocking(true)?;
            tokio::net::TcpListener::from_std(listener)
        }
        None => tokio::net::TcpListener::bind(addr).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reserved_port_stays_taken_until_its_server_binds_it() {
        let port = reserve("127.0.0.1").expect("reserve");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        assert!(
            std::net::TcpListener::bind(addr).is_err(),
            "nobody else can bind a reserved port"
        );
        let listener = bind(addr)
            .await
            .expect("the server gets the reserved listener");
        assert_eq!(listener.local_addr().expect("addr"), addr);
        let client = tokio::net::TcpStream::connect(addr);
        let (accepted, connected) = tokio::join!(listener.accept(), client);
        assert!(accepted.is_ok() && connected.is_ok());
    }
}
