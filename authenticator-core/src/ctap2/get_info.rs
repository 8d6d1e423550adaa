//! authenticatorGetInfo, CTAP 2.1 §6.4: what this device really implements,
//! as it is configured now.

use super::Authenticator;
use crate::env::Env;
use crate::limits::{
    MAX_CREDENTIAL_COUNT_IN_LIST, MAX_CREDENTIAL_ID_LENGTH, MAX_CRED_BLOB_LENGTH, MAX_MSG_SIZE,
    MAX_PIN_BYTES, MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH, MAX_SERIALIZED_LARGE_BLOB_ARRAY,
};
use crate::status::StatusCode;
use crate::store::CredentialStore;
use crate::wire::config::SubCommand as ConfigCommand;
use crate::wire::get_info::{OptionId, Response, Transport, Version};

/// uvModality of a fingerprint sensor (FIDO Registry §3.1
/// USER_VERIFY_FINGERPRINT_INTERNAL).
const UV_MODALITY_FINGERPRINT: u64 = 0x0000_0002;

impl<E: Env> Authenticator<E> {
    /// The getInfo response for the current configuration and state.
    pub fn get_info(&self) -> Result<Response, StatusCode> {
        let state = self.device_state()?;
        let mut options = vec![
            (OptionId::Rk, true),
            (OptionId::Up, true),
            (OptionId::Plat, false),
            // Present = supported; the value says whether a PIN is set.
            (OptionId::ClientPin, state.pin_hash.is_some()),
            (OptionId::PinUvAuthToken, true),
            (OptionId::CredMgmt, true),
            (OptionId::LargeBlobs, true),
            (OptionId::AuthnrCfg, true),
            (OptionId::SetMinPinLength, true),
            (OptionId::AlwaysUv, state.always_uv),
            // alwaysUv turns makeCredUvNotRqd off (§6.4, §6.11.2).
            (
                OptionId::MakeCredUvNotRqd,
                self.config.make_cred_uv_not_rqd && !state.always_uv,
            ),
        ];
        // "uv" present means a built-in method exists; true means it is
        // configured: always for the plain virtual method, and for a
        // fingerprint sensor while a finger is enrolled (§6.4).
        if self.config.builtin_uv {
            options.push((OptionId::Uv, self.uv_configured(&state)));
        }
        // "bioEnroll" present means authenticatorBioEnrollment; true means
        // a template is enrolled (§6.4, §6.7).
        if self.config.bio_enroll {
            options.push((OptionId::BioEnroll, !state.fingerprints.is_empty()));
        }
        // "ep" present means enterprise attestation is supported; the value
        // says whether authenticatorConfig enabled it.
        if self.enterprise_supported() {
            options.push((OptionId::Ep, state.enterprise_attestation));
        }
        let remaining = self.env.store_ref().remaining_discoverable()?;
        Ok(Response {
            versions: vec![Version::U2fV2, Version::Fido2_0, Version::Fido2_1],
            extensions: super::extensions::SUPPORTED.to_vec(),
            aaguid: self.config.aaguid,
            options,
            max_msg_size: MAX_MSG_SIZE as u64,
            // Preferred first (§6.4: "in order of decreasing preference").
            pin_uv_auth_protocols: vec![2, 1],
            max_credential_count_in_list: MAX_CREDENTIAL_COUNT_IN_LIST as u64,
            max_credential_id_length: MAX_CREDENTIAL_ID_LENGTH as u64,
            transports: vec![Transport::Usb],
            algorithms: self.config.algorithms.clone(),
            max_serialized_large_blob_array: Some(MAX_SERIALIZED_LARGE_BLOB_ARRAY as u64),
            force_pin_change: Some(state.force_pin_change),
            min_pin_length: Some(u64::from(state.min_pin_length)),
            firmware_version: u64::from(self.config.firmware_version),
            max_cred_blob_length: Some(MAX_CRED_BLOB_LENGTH as u64),
            max_rp_ids_for_set_min_pin_length: Some(MAX_RP_IDS_FOR_SET_MIN_PIN_LENGTH as u64),
            uv_modality: self.config.builtin_uv.then_some(UV_MODALITY_FINGERPRINT),
            remaining_discoverable_credentials: remaining as u64,
            attestation_formats: self.attestation_formats(),
            // CTAP 2.2 members, each present only where it says something
            // true of this key: the UV count while a PIN is set next to a
            // built-in method (the count starts at a PIN entry), reset over
            // USB (the only transport), PINs up to 63 code points (and 63
            // bytes, MAX_PIN_BYTES), and the config subcommands handled.
            uv_count_since_last_pin_entry: (self.config.builtin_uv && state.pin_hash.is_some())
                .then_some(u64::from(state.uv_count_since_pin)),
            transports_for_reset: vec![Transport::Usb],
            max_pin_length: Some(MAX_PIN_BYTES as u64),
            authenticator_config_commands: [
                ConfigCommand::EnableEnterpriseAttestation,
                ConfigCommand::ToggleAlwaysUv,
                ConfigCommand::SetMinPinLength,
            ]
            .into_iter()
            .map(|c| u64::from(c.id()))
            .collect(),
        })
    }
}
