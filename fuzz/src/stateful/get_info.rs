//! authenticatorGetInfo (CTAP 2.1 §6.4): what the device must report, as
//! the model says it is configured now.

use crate::{field, text_field};
use authenticator_core::cbor::Value;
use authenticator_core::limits;

use crate::stateful::model::{bytes_field, Harness};

/// The extension identifiers getInfo lists (CTAP 2.1 §6.4 member 0x02).
const EXTENSIONS: [&str; 6] = [
    "credBlob",
    "credProtect",
    "hmac-secret",
    "hmac-secret-mc",
    "largeBlobKey",
    "minPinLength",
];

impl Harness {
    pub(crate) fn after_get_info(&mut self, st: u8, body: Option<Vec<(Value, Value)>>) {
        assert_eq!(st, 0, "getInfo");
        let body = body.expect("getInfo body");
        let texts = |key: i64| -> Vec<String> {
            let Some(Value::Array(items)) = field(&body, key) else {
                panic!("getInfo {key:#04x} is not an array")
            };
            items
                .iter()
                .map(|v| v.as_text().expect("text").to_owned())
                .collect()
        };
        let int = |key: i64| {
            field(&body, key)
                .and_then(|v| v.as_integer())
                .map(i128::from)
        };
        assert_eq!(texts(0x01), ["U2F_V2", "FIDO_2_0", "FIDO_2_1"], "versions");
        assert_eq!(texts(0x02), EXTENSIONS, "extensions");
        assert_eq!(
            bytes_field(&body, 0x03).as_deref(),
            Some(&self.config.aaguid[..]),
            "aaguid"
        );
        let Some(Value::Map(options)) = field(&body, 0x04) else {
            panic!("getInfo options is not a map")
        };
        let option = |id: &str| text_field(options, id).map(|v| v.as_bool().expect("bool"));
        assert_eq!(option("rk"), Some(true), "rk");
        assert_eq!(option("up"), Some(true), "up");
        assert_eq!(option("plat"), Some(false), "plat");
        // clientPin: supported; true once a PIN is set.
        assert_eq!(option("clientPin"), Some(self.pin_set()), "clientPin");
        assert_eq!(option("pinUvAuthToken"), Some(true), "pinUvAuthToken");
        // uv: present with a built-in method.
        let uv = self.config.builtin_uv.then_some(true);
        assert_eq!(option("uv"), uv, "uv");
        assert_eq!(option("alwaysUv"), Some(self.always_uv), "alwaysUv");
        // No bio enrollment.
        assert_eq!(option("bioEnroll"), None, "bioEnroll");
        // §6.4: the commands this device implements (0x0A, 0x0C, 0x0D) and
        // setMinPINLength are advertised.
        for id in ["credMgmt", "largeBlobs", "authnrCfg", "setMinPINLength"] {
            assert_eq!(option(id), Some(true), "{id}");
        }
        // alwaysUv turns makeCredUvNotRqd off (§6.11.2).
        assert_eq!(
            option("makeCredUvNotRqd"),
            Some(self.config.make_cred_uv_not_rqd && !self.always_uv),
            "makeCredUvNotRqd"
        );
        // ep: present when enterprise attestation is supported, true once
        // enabled (§6.4, §6.11.1).
        assert_eq!(
            option("ep"),
            self.enterprise_supported.then_some(self.enterprise_enabled),
            "ep"
        );
        assert_eq!(
            int(0x0B),
            Some(limits::MAX_SERIALIZED_LARGE_BLOB_ARRAY as i128),
            "maxSerializedLargeBlobArray"
        );
        assert_eq!(
            int(0x10),
            Some(limits::MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH as i128),
            "maxRPIDsForSetMinPINLength"
        );
        assert_eq!(int(0x05), Some(limits::MAX_MSG_SIZE as i128), "maxMsgSize");
        assert_eq!(
            field(&body, 0x06),
            Some(&Value::Array(vec![2.into(), 1.into()])),
            "pinUvAuthProtocols"
        );
        assert_eq!(
            int(0x07),
            Some(limits::MAX_CREDENTIAL_COUNT_IN_LIST as i128)
        );
        assert_eq!(int(0x08), Some(limits::MAX_CREDENTIAL_ID_LENGTH as i128));
        assert_eq!(texts(0x09), ["usb"], "transports");
        let Some(Value::Array(algs)) = field(&body, 0x0A) else {
            panic!("algorithms is not an array")
        };
        let algs: Vec<i128> = algs
            .iter()
            .map(|a| {
                let Value::Map(a) = a else {
                    panic!("algorithm is not a map")
                };
                text_field(a, "alg")
                    .and_then(|v| v.as_integer())
                    .map(i128::from)
                    .expect("alg")
            })
            .collect();
        let expected: Vec<i128> = self
            .config
            .algorithms
            .iter()
            .map(|a| a.cose().into())
            .collect();
        assert_eq!(algs, expected, "algorithms");
        assert_eq!(
            field(&body, 0x0C),
            Some(&Value::Bool(self.force_pin_change)),
            "forcePINChange"
        );
        assert_eq!(int(0x0D), Some(self.min_pin_length.into()), "minPINLength");
        assert_eq!(
            int(0x0F),
            Some(limits::MAX_CRED_BLOB_LENGTH as i128),
            "maxCredBlobLength"
        );
        // uvModality with a built-in method (fingerprint).
        assert_eq!(int(0x12), self.config.builtin_uv.then_some(2), "uvModality");
        // CTAP 2.2 members: attestationFormats without the implied "none";
        // uvCountSinceLastPinEntry only next to a built-in method with a
        // PIN set (its value is the core's count, not modelled here);
        // reset over USB; PINs up to 63 code points; config subcommands
        // 1-3.
        match self.config.attestation {
            authenticator_core::config::AttestationMode::None => {
                assert!(field(&body, 0x16).is_none(), "attestationFormats")
            }
            _ => assert_eq!(texts(0x16), ["packed"], "attestationFormats"),
        }
        assert_eq!(
            field(&body, 0x17).is_some(),
            self.config.builtin_uv && self.pin.is_some(),
            "uvCountSinceLastPinEntry present"
        );
        assert_eq!(texts(0x1A), ["usb"], "transportsForReset");
        assert_eq!(int(0x1D), Some(63), "maxPINLength");
        assert_eq!(
            field(&body, 0x1F),
            Some(&Value::Array(vec![1.into(), 2.into(), 3.into()])),
            "authenticatorConfigCommands"
        );
        let remaining = int(0x14).expect("remainingDiscoverableCredentials");
        assert_eq!(
            usize::try_from(remaining).expect("remaining") + self.model_discoverable_count(),
            self.capacity,
            "remaining + stored != capacity"
        );
    }
}
