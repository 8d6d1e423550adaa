//! Events of a device, as `GET /v1/events` streams them and the event log
//! (`NAME.events.jsonl`) keeps them.
//!
//! Each line of the stream is one JSON object: a device's [`Event`]
//! (`type`, `device`, `time` in Unix milliseconds, and the fields of its
//! kind), or a [`Notice`] about the stream itself (`events.lost`). Field
//! names are camelCase; binary values (credential IDs) are standard base64.
//!
//! The [`Display`](std::fmt::Display) of an event or a notice is its line
//! as the daemon writes it, through [`serde_json::Value`]: with serde_json's
//! default map, the keys come out in lexicographic order
//! (`{"device":"alice","presence":"manual","time":1,"type":"presence.changed"}`).
//! Deserializing does not depend on the order.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One event of one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened: Unix time in milliseconds.
    pub time: u64,
    /// The device's name.
    pub device: String,
    /// What happened (the `type` field and the fields that go with it).
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened to a device: the `type` of an [`Event`] and its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
#[non_exhaustive]
pub enum EventKind {
    /// The device is up: its transport is open and it serves requests.
    #[serde(rename = "device.plugged")]
    DevicePlugged,
    /// The device went away (removed, or the daemon stops).
    #[serde(rename = "device.unplugged")]
    DeviceUnplugged,
    /// The device was unplugged and plugged in again: its channels are
    /// gone and a running request was abandoned.
    #[serde(rename = "device.replugged")]
    DeviceReplugged,
    /// authenticatorReset (CTAP 2.1 §6.6) erased every credential and the
    /// PIN.
    #[serde(rename = "device.reset")]
    DeviceReset,
    /// This device was made as a clone of another one.
    #[serde(rename = "device.cloned")]
    DeviceCloned {
        /// The device it copies.
        from: String,
        /// How many credentials were copied.
        credentials: u64,
        /// What was added to each copied signature counter.
        counter_offset: i64,
    },
    /// authenticatorMakeCredential (CTAP 2.1 §6.1) created a credential.
    #[serde(rename = "credential.created")]
    CredentialCreated {
        /// The RP ID.
        rp_id: String,
        /// The new credential's ID (base64).
        credential_id: String,
        /// Whether it is discoverable (stored on the device).
        discoverable: bool,
        /// The user's name, when the RP gave one (`null` otherwise).
        user_name: Option<String>,
        /// The signature counter in the registration.
        sign_count: u32,
    },
    /// authenticatorGetAssertion or authenticatorGetNextAssertion (CTAP 2.1
    /// §6.2, §6.3) signed an assertion.
    #[serde(rename = "credential.asserted")]
    CredentialAsserted {
        /// The RP ID.
        rp_id: String,
        /// The credential's ID (base64).
        credential_id: String,
        /// The signature counter signed.
        sign_count: u32,
        /// The UP flag signed.
        up: bool,
        /// The UV flag signed.
        uv: bool,
    },
    /// getAssertion found several discoverable credentials of the RP and
    /// the account choice settled which to use (CTAP 2.1 §6.2.2 step 12.2).
    #[serde(rename = "account.chosen")]
    AccountChosen {
        /// The RP ID.
        rp_id: String,
        /// How many credentials applied.
        candidates: usize,
        /// `chosen` (the virtual user picked one on the device), `platform`
        /// (all of them went to the platform, which chooses) or `declined`
        /// (the virtual user refused: CTAP2_ERR_OPERATION_DENIED).
        outcome: String,
        /// The chosen credential's ID (base64), when one was chosen.
        credential_id: Option<String>,
        /// The chosen credential's user handle (base64), when one was chosen.
        user_handle: Option<String>,
        /// Why: `newest`, `newest-no-match` (no user:/credential: rule
        /// matched), `user-handle`, `credential-id`; for `platform` and
        /// `declined` the policy in force.
        reason: String,
    },
    /// A credential was deleted: by credential management (CTAP 2.1 §6.8.5,
    /// with `rpId`) or through the control API (with `by`).
    #[serde(rename = "credential.deleted")]
    CredentialDeleted {
        /// The RP ID, when the authenticator deleted it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rp_id: Option<String>,
        /// The credential's ID (base64).
        credential_id: String,
        /// Who deleted it when it was not the authenticator (`control`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// The control API imported a credential.
    #[serde(rename = "credential.imported")]
    CredentialImported {
        /// The credential's ID (base64).
        credential_id: String,
    },
    /// The control API deleted every credential.
    #[serde(rename = "credentials.cleared")]
    CredentialsCleared {
        /// How many there were.
        count: u64,
    },
    /// The control API set a credential's signature counter.
    #[serde(rename = "counter.set")]
    CounterSet {
        /// The credential's ID (base64).
        credential_id: String,
        /// The new counter.
        sign_count: u32,
    },
    /// The control API changed how the signature counters behave.
    #[serde(rename = "counter.mode")]
    CounterMode {
        /// The counter mode now in force.
        mode: String,
        /// What happens when a counter would overflow.
        overflow: String,
    },
    /// A first PIN was set (authenticatorClientPIN setPIN, CTAP 2.1 §6.5.5.5).
    #[serde(rename = "pin.set")]
    PinSet,
    /// The PIN was changed (changePIN, CTAP 2.1 §6.5.5.6).
    #[serde(rename = "pin.changed")]
    PinChanged,
    /// A wrong PIN was given (CTAP 2.1 §6.5.5.7).
    #[serde(rename = "pin.mismatch")]
    PinMismatch {
        /// pinRetries left (0: blocked until reset).
        retries_left: u8,
    },
    /// The presence mode changed.
    #[serde(rename = "presence.changed")]
    PresenceChanged {
        /// The new mode (`approve`, `deny`, `delay:MS`, `timeout:MS`,
        /// `never`, `manual`).
        presence: String,
    },
    /// The virtual user's account choice changed.
    #[serde(rename = "account.choice")]
    AccountChoiceChanged {
        /// The new policy (`platform`, `newest`, `refuse`, `user:HANDLE,…`).
        account_choice: String,
    },
    /// A request is waiting for the user.
    #[serde(rename = "presence.waiting")]
    PresenceWaiting,
    /// The control API touched the key for a waiting request.
    #[serde(rename = "presence.touched")]
    PresenceTouched,
    /// The built-in user verification outcome changed.
    #[serde(rename = "uv.changed")]
    UvChanged {
        /// The new outcome.
        uv: String,
    },
    /// A CTAP2 request was answered with an error status.
    #[serde(rename = "ctap.error")]
    CtapError {
        /// The command's name.
        command: String,
        /// The status's name.
        status: String,
    },
    /// An injected fault fired.
    #[serde(rename = "fault.fired")]
    FaultFired {
        /// The fault, as `GET /v1/devices/{name}/faults` lists it.
        fault: Value,
        /// The request's command.
        command: String,
        /// The request's CTAPHID channel (8 hex digits).
        channel: String,
    },
}

/// A line of the stream that is not a device's event. It carries neither
/// `device` nor `time`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum Notice {
    /// The reader fell more than the backlog behind and missed events.
    #[serde(rename = "events.lost")]
    EventsLost {
        /// How many it missed.
        count: u64,
    },
}

/// One line of `GET /v1/events` or of the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StreamLine {
    /// A device's event.
    Event(Event),
    /// A note about the stream.
    Notice(Notice),
}

/// Writes `value` as the daemon's JSON line: through [`Value`], whose map
/// orders the keys.
fn write_line<T: Serialize>(value: &T, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    // `to_value` fails only for a map with keys that are not strings or a
    // `Serialize` that reports an error; these types have neither.
    let v = serde_json::to_value(value).map_err(|_| fmt::Error)?;
    write!(f, "{v}")
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_line(self, f)
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_line(self, f)
    }
}

impl fmt::Display for StreamLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_line(self, f)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: EventKind) -> Event {
        Event {
            time: 1_700_000_000_123,
            device: "alice".to_owned(),
            kind,
        }
    }

    /// One of each kind, with the `type` it must carry. The match makes a
    /// new kind fail to compile here until it is added.
    fn every_kind() -> Vec<(EventKind, &'static str)> {
        let all = vec![
            EventKind::DevicePlugged,
            EventKind::DeviceUnplugged,
            EventKind::DeviceReplugged,
            EventKind::DeviceReset,
            EventKind::DeviceCloned {
                from: "default".into(),
                credentials: 3,
                counter_offset: -2,
            },
            EventKind::CredentialCreated {
                rp_id: "example.com".into(),
                credential_id: "AQID".into(),
                discoverable: true,
                user_name: Some("alice@example.com".into()),
                sign_count: 1,
            },
            EventKind::CredentialCreated {
                rp_id: "example.com".into(),
                credential_id: "AQID".into(),
                discoverable: false,
                user_name: None,
                sign_count: 0,
            },
            EventKind::CredentialAsserted {
                rp_id: "example.com".into(),
                credential_id: "AQID".into(),
                sign_count: 7,
                up: true,
                uv: false,
            },
            EventKind::AccountChosen {
                rp_id: "example.com".into(),
                candidates: 2,
                outcome: "chosen".into(),
                credential_id: Some("AQID".into()),
                user_handle: Some("YWxpY2U=".into()),
                reason: "user-handle".into(),
            },
            EventKind::CredentialDeleted {
                rp_id: Some("example.com".into()),
                credential_id: "AQID".into(),
                by: None,
            },
            EventKind::CredentialDeleted {
                rp_id: None,
                credential_id: "AQID".into(),
                by: Some("control".into()),
            },
            EventKind::CredentialImported {
                credential_id: "AQID".into(),
            },
            EventKind::CredentialsCleared { count: 4 },
            EventKind::CounterSet {
                credential_id: "AQID".into(),
                sign_count: 42,
            },
            EventKind::CounterMode {
                mode: "frozen".into(),
                overflow: "wrap".into(),
            },
            EventKind::PinSet,
            EventKind::PinChanged,
            EventKind::PinMismatch { retries_left: 5 },
            EventKind::PresenceChanged {
                presence: "delay:250".into(),
            },
            EventKind::AccountChoiceChanged {
                account_choice: "user:YWxpY2U,newest".into(),
            },
            EventKind::PresenceWaiting,
            EventKind::PresenceTouched,
            EventKind::UvChanged { uv: "fail".into() },
            EventKind::CtapError {
                command: "getAssertion".into(),
                status: "CTAP2_ERR_NO_CREDENTIALS".into(),
            },
            EventKind::FaultFired {
                fault: json!({ "id": 1, "kind": "drop", "fired": 1, "sticky": false }),
                command: "makeCredential".into(),
                channel: "0000002a".into(),
            },
        ];
        all.into_iter()
            .map(|k| {
                let name = match &k {
                    EventKind::DevicePlugged => "device.plugged",
                    EventKind::DeviceUnplugged => "device.unplugged",
                    EventKind::DeviceReplugged => "device.replugged",
                    EventKind::DeviceReset => "device.reset",
                    EventKind::DeviceCloned { .. } => "device.cloned",
                    EventKind::CredentialCreated { .. } => "credential.created",
                    EventKind::CredentialAsserted { .. } => "credential.asserted",
                    EventKind::AccountChosen { .. } => "account.chosen",
                    EventKind::CredentialDeleted { .. } => "credential.deleted",
                    EventKind::CredentialImported { .. } => "credential.imported",
                    EventKind::CredentialsCleared { .. } => "credentials.cleared",
                    EventKind::CounterSet { .. } => "counter.set",
                    EventKind::CounterMode { .. } => "counter.mode",
                    EventKind::PinSet => "pin.set",
                    EventKind::PinChanged => "pin.changed",
                    EventKind::PinMismatch { .. } => "pin.mismatch",
                    EventKind::PresenceChanged { .. } => "presence.changed",
                    EventKind::AccountChoiceChanged { .. } => "account.choice",
                    EventKind::PresenceWaiting => "presence.waiting",
                    EventKind::PresenceTouched => "presence.touched",
                    EventKind::UvChanged { .. } => "uv.changed",
                    EventKind::CtapError { .. } => "ctap.error",
                    EventKind::FaultFired { .. } => "fault.fired",
                };
                (k, name)
            })
            .collect()
    }

    #[test]
    fn every_kind_round_trips_with_its_type() {
        for (kind, name) in every_kind() {
            let e = event(kind);
            let line = e.to_string();
            let v: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["type"], name, "{line}");
            assert_eq!(v["device"], "alice", "{line}");
            assert_eq!(v["time"], 1_700_000_000_123_u64, "{line}");
            assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), e, "{line}");
            // The derived form (fields in declaration order) reads back too.
            let derived = serde_json::to_string(&e).unwrap();
            assert_eq!(serde_json::from_str::<Event>(&derived).unwrap(), e);
            assert_eq!(
                serde_json::from_str::<StreamLine>(&line).unwrap(),
                StreamLine::Event(e.clone()),
                "{line}"
            );
        }
        let lost = Notice::EventsLost { count: 9 };
        assert_eq!(
            serde_json::from_str::<Notice>(&lost.to_string()).unwrap(),
            lost
        );
        assert_eq!(
            serde_json::from_str::<StreamLine>(&lost.to_string()).unwrap(),
            StreamLine::Notice(lost)
        );
    }

    #[rustfmt::skip]
    #[test]
    fn lines_are_pinned() {
        let cases = [
            (
                EventKind::PresenceChanged { presence: "manual".into() },
                r#"{"device":"alice","presence":"manual","time":1700000000123,"type":"presence.changed"}"#,
            ),
            (
                EventKind::PresenceWaiting,
                r#"{"device":"alice","time":1700000000123,"type":"presence.waiting"}"#,
            ),
            (
                EventKind::CredentialCreated {
                    rp_id: "example.com".into(),
                    credential_id: "AQID".into(),
                    discoverable: false,
                    user_name: None,
                    sign_count: 0,
                },
                r#"{"credentialId":"AQID","device":"alice","discoverable":false,"rpId":"example.com","signCount":0,"time":1700000000123,"type":"credential.created","userName":null}"#,
            ),
            (
                EventKind::CredentialDeleted {
                    rp_id: None,
                    credential_id: "AQID".into(),
                    by: Some("control".into()),
                },
                r#"{"by":"control","credentialId":"AQID","device":"alice","time":1700000000123,"type":"credential.deleted"}"#,
            ),
            (
                EventKind::DeviceCloned { from: "default".into(), credentials: 3, counter_offset: -2 },
                r#"{"counterOffset":-2,"credentials":3,"device":"alice","from":"default","time":1700000000123,"type":"device.cloned"}"#,
            ),
            (
                EventKind::FaultFired {
                    fault: json!({ "kind": "drop", "id": 1 }),
                    command: "u2f".into(),
                    channel: "0000002a".into(),
                },
                r#"{"channel":"0000002a","command":"u2f","device":"alice","fault":{"id":1,"kind":"drop"},"time":1700000000123,"type":"fault.fired"}"#,
            ),
        ];
        for (kind, line) in cases {
            assert_eq!(event(kind).to_string(), line);
        }
        assert_eq!(
            Notice::EventsLost { count: 12 }.to_string(),
            r#"{"count":12,"type":"events.lost"}"#
        );
    }

    /// The same line as the `json!` object the fields came from: what the
    /// stream carried before the events were typed.
    #[test]
    fn lines_equal_the_untyped_objects() {
        let typed = event(EventKind::CredentialAsserted {
            rp_id: "example.com".into(),
            credential_id: "AQID".into(),
            sign_count: 7,
            up: true,
            uv: false,
        });
        let untyped = json!({
            "time": 1_700_000_000_123_u64,
            "device": "alice",
            "type": "credential.asserted",
            "rpId": "example.com",
            "credentialId": "AQID",
            "signCount": 7,
            "up": true,
            "uv": false,
        });
        assert_eq!(typed.to_string(), untyped.to_string());
    }

    #[test]
    fn unknown_types_and_missing_fields_are_refused() {
        for bad in [
            r#"{"time":1,"device":"a","type":"device.exploded"}"#,
            r#"{"time":1,"device":"a","type":"pin.mismatch"}"#,
            r#"{"device":"a","type":"pin.set"}"#,
        ] {
            assert!(serde_json::from_str::<Event>(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<Notice>(r#"{"type":"pin.set","count":1}"#).is_err());
        assert!(
            serde_json::from_str::<StreamLine>(r#"{"type":"credentials.cleared","count":1}"#)
                .is_err()
        );
    }

    /// docs/openapi.json lists every `type` the stream carries.
    #[test]
    fn the_openapi_document_lists_every_type() {
        let doc: Value = serde_json::from_str(include_str!("../../docs/openapi.json")).unwrap();
        let listed = doc["components"]["schemas"]["Event"]["properties"]["type"]["description"]
            .as_str()
            .unwrap();
        let mut listed: Vec<&str> = listed.split(", ").collect();
        listed.sort_unstable();
        let mut ours: Vec<&str> = every_kind().into_iter().map(|(_, n)| n).collect();
        ours.push("events.lost");
        ours.sort_unstable();
        ours.dedup();
        assert_eq!(listed, ours);
    }
}
