//! The messages between the engine and the spawner: one datagram each on a `SOCK_SEQPACKET`
//! socket, fields separated by NUL bytes (a hook's program, arguments and environment cannot
//! hold NUL: `execve` takes C strings), so paths and values pass byte for byte.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

/// A malformed message (a bug on one side, or a spawner of another version).
#[derive(Debug, thiserror::Error)]
#[error("malformed hook spawner message: {0}")]
pub(crate) struct WireError(pub &'static str);

/// A hook's command line, added environment and working directory.
#[derive(Debug, PartialEq)]
pub(crate) struct SpawnCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub cwd: PathBuf,
}

/// What the engine asks for.
#[derive(Debug, PartialEq)]
pub(crate) enum Request {
    /// Start `command` in its own process group; the hook's stdout and stderr are the two
    /// descriptors sent with the message.
    Spawn { id: u64, command: SpawnCommand },
    /// Kill the process group of run `id`, unless its leader was already reaped.
    Kill { id: u64 },
}

/// What the spawner answers: `Spawned`, then `Exited`; or `Failed` alone.
#[derive(Debug, PartialEq)]
pub(crate) enum Reply {
    /// Run `id` started as process `pid` (also its process group).
    Spawned { id: u64, pid: i32 },
    /// Run `id`'s process exited (raw wait status) and was reaped; its group was killed first.
    Exited {
        id: u64,
        status: i32,
        user_cpu: Duration,
        sys_cpu: Duration,
        max_rss_bytes: u64,
    },
    /// Run `id` could not start: the OS error.
    Failed { id: u64, errno: i32 },
}

/// Fails when a field holds a NUL byte (as `std::process::Command` would at spawn).
fn push(buf: &mut Vec<u8>, field: &[u8]) -> std::io::Result<()> {
    if field.contains(&0) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "nul byte found in a hook's program, argument or environment",
        ));
    }
    buf.extend_from_slice(field);
    buf.push(0);
    Ok(())
}

impl Request {
    /// The datagram.
    pub(crate) fn encode(&self) -> std::io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(1024);
        match self {
            Request::Spawn {
                id,
                command:
                    SpawnCommand {
                        program,
                        args,
                        env,
                        cwd,
                    },
            } => {
                push(&mut buf, b"spawn")?;
                push(&mut buf, id.to_string().as_bytes())?;
                push(&mut buf, program.as_os_str().as_bytes())?;
                push(&mut buf, cwd.as_os_str().as_bytes())?;
                push(&mut buf, args.len().to_string().as_bytes())?;
                for arg in args {
                    push(&mut buf, arg.as_bytes())?;
                }
                for (key, value) in env {
                    push(&mut buf, key.as_bytes())?;
                    push(&mut buf, value.as_bytes())?;
                }
            }
            Request::Kill { id } => {
                push(&mut buf, b"kill")?;
                push(&mut buf, id.to_string().as_bytes())?;
            }
        }
        Ok(buf)
    }

    /// Parses a datagram.
    pub(crate) fn decode(data: &[u8]) -> Result<Self, WireError> {
        let mut fields = Fields::new(data)?;
        match fields.next_bytes()? {
            b"spawn" => {
                let id = fields.number()?;
                let program = PathBuf::from(fields.os()?);
                let cwd = PathBuf::from(fields.os()?);
                let nargs: usize = fields.number()?;
                let args = (0..nargs).map(|_| fields.os()).collect::<Result<_, _>>()?;
                let mut env = Vec::new();
                while !fields.is_empty() {
                    env.push((fields.os()?, fields.os()?));
                }
                Ok(Request::Spawn {
                    id,
                    command: SpawnCommand {
                        program,
                        args,
                        env,
                        cwd,
                    },
                })
            }
            b"kill" => Ok(Request::Kill {
                id: fields.number()?,
            }),
            _ => Err(WireError("unknown request")),
        }
    }
}

/// The run id of a request whose end was cut off (too large to receive whole).
pub(crate) fn request_id(data: &[u8]) -> Option<u64> {
    let mut fields = data.splitn(3, |b| *b == 0);
    let _kind = fields.next()?;
    let id = fields.next()?;
    fields.next()?;
    std::str::from_utf8(id).ok()?.parse().ok()
}

impl Reply {
    /// The datagram.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let text = match self {
            Reply::Spawned { id, pid } => format!("spawned\0{id}\0{pid}\0"),
            Reply::Exited {
                id,
                status,
                user_cpu,
                sys_cpu,
                max_rss_bytes,
            } => format!(
                "exited\0{id}\0{status}\0{}\0{}\0{max_rss_bytes}\0",
                user_cpu.as_micros(),
                sys_cpu.as_micros()
            ),
            Reply::Failed { id, errno } => format!("failed\0{id}\0{errno}\0"),
        };
        text.into_bytes()
    }

    /// Parses a datagram.
    pub(crate) fn decode(data: &[u8]) -> Result<Self, WireError> {
        let mut fields = Fields::new(data)?;
        match fields.next_bytes()? {
            b"spawned" => Ok(Reply::Spawned {
                id: fields.number()?,
                pid: fields.number()?,
            }),
            b"exited" => Ok(Reply::Exited {
                id: fields.number()?,
                status: fields.number()?,
                user_cpu: Duration::from_micros(fields.number()?),
                sys_cpu: Duration::from_micros(fields.number()?),
                max_rss_bytes: fields.number()?,
            }),
            b"failed" => Ok(Reply::Failed {
                id: fields.number()?,
                errno: fields.number()?,
            }),
            _ => Err(WireError("unknown reply")),
        }
    }

    /// The run this reply is about.
    pub(crate) fn id(&self) -> u64 {
        match self {
            Reply::Spawned { id, .. } | Reply::Exited { id, .. } | Reply::Failed { id, .. } => *id,
        }
    }
}

/// The NUL-terminated fields of a datagram, in order.
struct Fields<'a> {
    fields: Vec<&'a [u8]>,
    next: usize,
}

impl<'a> Fields<'a> {
    fn new(data: &'a [u8]) -> Result<Self, WireError> {
        let body = data
            .strip_suffix(&[0])
            .ok_or(WireError("no terminating NUL"))?;
        Ok(Fields {
            fields: body.split(|b| *b == 0).collect(),
            next: 0,
        })
    }

    fn is_empty(&self) -> bool {
        self.next == self.fields.len()
    }

    fn next_bytes(&mut self) -> Result<&'a [u8], WireError> {
        let field = self
            .fields
            .get(self.next)
            .ok_or(WireError("too few fields"))?;
        self.next += 1;
        Ok(field)
    }

    fn os(&mut self) -> Result<OsString, WireError> {
        Ok(OsStr::from_bytes(self.next_bytes()?).to_os_string())
    }

    fn number<T: std::str::FromStr>(&mut self) -> Result<T, WireError> {
        std::str::from_utf8(self.next_bytes()?)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(WireError("not a number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_pass_byte_for_byte() {
        let spawn = Request::Spawn {
            id: 7,
            command: SpawnCommand {
                program: PathBuf::from("/hooks/a b/hook.sh"),
                args: vec![
                    "--config".into(),
                    OsStr::from_bytes(b"\xff=x").into(),
                    "".into(),
                ],
                env: vec![
                    ("BINDING_CONTEXT_PATH".into(), "/tmp/x=y".into()),
                    ("EMPTY".into(), "".into()),
                ],
                cwd: PathBuf::from("/hooks/a b"),
            },
        };
        assert_eq!(Request::decode(&spawn.encode().unwrap()).unwrap(), spawn);
        let cut = spawn.encode().unwrap();
        assert_eq!(
            request_id(&cut[..12]),
            Some(7),
            "the id survives a cut after it"
        );
        assert_eq!(request_id(b"spawn\x001"), None, "a cut inside the id");
        let kill = Request::Kill { id: u64::MAX };
        assert_eq!(Request::decode(&kill.encode().unwrap()).unwrap(), kill);
        for reply in [
            Reply::Spawned { id: 1, pid: 4242 },
            Reply::Exited {
                id: 2,
                status: 768,
                user_cpu: Duration::from_micros(1500),
                sys_cpu: Duration::from_micros(250),
                max_rss_bytes: 4096,
            },
            Reply::Failed { id: 3, errno: 2 },
        ] {
            assert_eq!(Reply::decode(&reply.encode()).unwrap(), reply);
        }
    }

    #[test]
    fn a_nul_byte_is_refused_and_garbage_is_an_error() {
        let spawn = Request::Spawn {
            id: 1,
            command: SpawnCommand {
                program: PathBuf::from("hook"),
                args: vec![OsStr::from_bytes(b"a\0b").into()],
                env: vec![],
                cwd: PathBuf::from("/"),
            },
        };
        assert_eq!(
            spawn.encode().unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
        // Fields, each ended by NUL.
        let msg = |fields: &[&str]| -> Vec<u8> {
            fields.iter().flat_map(|f| f.bytes().chain([0])).collect()
        };
        for bad in [
            Vec::new(),
            b"spawn".to_vec(),
            msg(&["spawn", "x"]),
            msg(&["what"]),
            // Three arguments announced, one given.
            msg(&["spawn", "1", "p", "/", "3", "a"]),
            // An environment key without its value.
            msg(&["spawn", "1", "p", "/", "0", "KEY"]),
        ] {
            assert!(Request::decode(&bad).is_err(), "{bad:?}");
        }
        for bad in [
            msg(&["exited", "1"]),
            msg(&["spawned", "x", "1"]),
            b"failed\0\x31".to_vec(),
        ] {
            assert!(Reply::decode(&bad).is_err(), "{bad:?}");
        }
    }
}
