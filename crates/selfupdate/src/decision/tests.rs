//! The decision as a table: one row per situation, each naming the rule it checks.

use super::*;
use crate::window::Window;
use chrono::TimeZone;
use serde_json::json;

const OLD: &str = "sha256:0001";
const NEW: &str = "sha256:0002";

fn v(text: &str) -> Option<Version> {
    Some(Version::parse(text).unwrap())
}

/// 2024-01-05 (a Friday) 12:00 UTC plus `minutes`.
fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 5, 12, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

struct Row {
    name: &'static str,
    running: Running,
    candidate: Candidate,
    policy: Policy,
    approved: Option<&'static str>,
    available: Option<Available>,
    expected: Action,
}

fn running(digest: Option<&str>, version: Option<Version>, channel: Option<Channel>) -> Running {
    Running {
        digest: digest.map(String::from),
        version,
        channel,
    }
}

fn candidate(channel: Channel, version: Option<Version>) -> Candidate {
    Candidate {
        channel,
        digest: NEW.into(),
        version,
    }
}

fn auto() -> Policy {
    Policy {
        mode: Mode::Auto,
        windows: Vec::new(),
        wave: 0,
        wave_delay: Duration::from_secs(600),
    }
}

fn seen(minutes_ago: i64) -> Option<Available> {
    Some(Available {
        digest: NEW.into(),
        first_seen: t(-minutes_ago),
    })
}

fn window(from: &str, to: &str) -> Window {
    Window::from_value(&json!({"from": from, "to": to})).unwrap()
}

fn apply() -> Action {
    Action::Apply { digest: NEW.into() }
}

fn record() -> Action {
    Action::RecordAvailable { digest: NEW.into() }
}

fn rows() -> Vec<Row> {
    let stable = Some(Channel::Stable);
    vec![
        Row {
            name: "the running digest is the channel's: nothing, whatever the versions say",
            running: running(Some(NEW), v("2.0.0"), None),
            candidate: candidate(Channel::Stable, v("1.0.0")),
            policy: auto(),
            approved: None,
            available: None,
            expected: Action::Nothing,
        },
        Row {
            name: "a moved tag in Auto mode, wave 0, no windows: apply at once",
            running: running(Some(OLD), v("1.0.0"), stable),
            candidate: candidate(Channel::Stable, v("1.1.0")),
            policy: auto(),
            approved: None,
            available: None,
            expected: apply(),
        },
        Row {
            name: "a rollback on the same channel is followed like any move",
            running: running(Some(OLD), v("1.1.0"), stable),
            candidate: candidate(Channel::Stable, v("1.0.0")),
            policy: auto(),
            approved: None,
            available: None,
            expected: apply(),
        },
        Row {
            name: "a switch to a channel behind the running version waits for it",
            running: running(Some(OLD), v("1.3.0"), Some(Channel::Alpha)),
            candidate: candidate(Channel::Stable, v("1.2.0")),
            policy: auto(),
            approved: None,
            available: None,
            expected: Action::Wait {
                reason: WaitReason::Version {
                    channel: Channel::Stable,
                    version: Version::new(1, 3, 0),
                },
                until: None,
            },
        },
        Row {
            name: "an image of unknown origin is never downgraded either",
            running: running(Some(OLD), v("1.3.0"), None),
            candidate: candidate(Channel::Stable, v("1.2.9")),
            policy: auto(),
            approved: None,
            available: None,
            expected: Action::Wait {
                reason: WaitReason::Version {
                    channel: Channel::Stable,
                    version: Version::new(1, 3, 0),
                },
                until: None,
            },
        },
        Row {
            name: "once the new channel reaches the running version, the switch applies",
            running: running(Some(OLD), v("1.3.0"), Some(Channel::Alpha)),
            candidate: candidate(Channel::Stable, v("1.3.0")),
            policy: auto(),
            approved: None,
            available: None,
            expected: apply(),
        },
        Row {
            name: "without a version label the tag is followed",
            running: running(Some(OLD), v("1.3.0"), Some(Channel::Alpha)),
            candidate: candidate(Channel::Stable, None),
            policy: auto(),
            approved: None,
            available: None,
            expected: apply(),
        },
        Row {
            name: "an image running by tag (digest unknown) is pinned to the channel digest",
            running: running(None, None, stable),
            candidate: candidate(Channel::Stable, v("1.0.0")),
            policy: auto(),
            approved: None,
            available: None,
            expected: apply(),
        },
        Row {
            name: "Manual mode records the digest first",
            running: running(Some(OLD), None, stable),
            candidate: candidate(Channel::Stable, None),
            policy: Policy {
                mode: Mode::Manual,
                ..auto()
            },
            approved: None,
            available: None,
            expected: record(),
        },
        Row {
            name: "Manual mode then waits for approval",
            running: running(Some(OLD), None, stable),
            candidate: candidate(Channel::Stable, None),
            policy: Policy {
                mode: Mode::Manual,
                ..auto()
            },
            approved: Some(OLD),
            available: seen(5),
            expected: Action::Wait {
                reason: WaitReason::Approval { digest: NEW.into() },
                until: None,
            },
        },
        Row {
            name: "Manual mode applies the approved digest, even outside windows and waves",
            running: running(Some(OLD), None, stable),
            candidate: candidate(Channel::Stable, None),
            policy: Policy {
                mode: Mode::Manual,
                windows: vec![window("01:00", "02:00")],
                wave: 3,
                ..auto()
            },
            approved: Some(NEW),
            available: seen(0),
            expected: apply(),
        },
        Row {
            name: "a later wave records the first sighting",
            running: running(Some(OLD), None, stable),
            candidate: candidate(Channel::Stable, None),
            policy: Policy { wave: 2, ..auto() },
            approved: None,
            available: None,
            expected: record(),
        },
        Row {
            name: "a later wave waits wave × delay from the first sighting",
            running: running(Some(OLD), None, stable),
            candidate: candidate(Channel::Stable, None),
            policy: Policy { wave: 2, ..auto() },
            approved: None,
            available: seen(5),
            expected: Action::Wait {
                reason: WaitReason::Wave { wave: 2 },
                until: Some(t(15)),
            },
        },
        Row {
            name: "a later wave applies once its time has come",
            running: running(Some(OLD), None, stable),
            candidate: candidate(Channel::Stable, None),
            policy: Policy { wave: 2, ..auto() },
            approved: None,
            available: seen(20),
            expected: apply(),
        },
        Row {
            name: "a sighting of another digest does not count for this one",
            running: running(Some(OLD), None, stable),
            candidate: candidate(Channel::Stable, None),
            policy: Policy { wave: 2, ..auto() },
            approved: None,
            available: Some(Available {
                digest: "sha256:0003".into(),
                first_seen: t(-60),
            }),
            expected: record(),
        },
        Row {
            name: "outside every window: record, then wait for the next window start",
            running: running(Some(OLD), None, stable),
            candidate: candidate(Channel::Stable, None),
            policy: Policy {
                windows: vec![window("01:00", "02:00"), window("20:00", "21:00")],
                ..auto()
            },
            approved: None,
            available: seen(1),
            expected: Action::Wait {
                reason: WaitReason::Window,
                until: Some(t(8 * 60)),
            },
        },
        Row {
            name: "inside a window: apply",
            running: running(Some(OLD), None, stable),
            candidate: candidate(Channel::Stable, None),
            policy: Policy {
                windows: vec![window("11:00", "13:00")],
                ..auto()
            },
            approved: None,
            available: None,
            expected: apply(),
        },
        Row {
            name: "Auto mode ignores an approval annotation",
            running: running(Some(OLD), None, stable),
            candidate: candidate(Channel::Stable, None),
            policy: Policy { wave: 1, ..auto() },
            approved: Some(NEW),
            available: seen(1),
            expected: Action::Wait {
                reason: WaitReason::Wave { wave: 1 },
                until: Some(t(9)),
            },
        },
    ]
}

#[test]
fn the_decision_table_holds() {
    let mut failures = Vec::new();
    for row in rows() {
        let got = decide(&Inputs {
            running: &row.running,
            candidate: &row.candidate,
            policy: &row.policy,
            approved: row.approved,
            available: row.available.as_ref(),
            now: t(0),
        });
        if got != row.expected {
            failures.push(format!(
                "{}:\n  expected {:?}\n  got      {:?}",
                row.name, row.expected, got
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn wait_reasons_read_as_the_issue_words_them() {
    let reason = WaitReason::Version {
        channel: Channel::Stable,
        version: Version::new(1, 3, 0),
    };
    assert_eq!(reason.to_string(), "waiting for stable to reach 1.3.0");
    assert!(
        !Action::Wait {
            reason,
            until: None
        }
        .update_available()
    );
    assert!(record().update_available());
    assert!(!Action::Nothing.update_available());
}
