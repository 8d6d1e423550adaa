//! authenticatorGetInfo, CTAP 2.1 §6.4: what this build really implements.

use super::Authenticator;
use crate::env::Env;
use crate::limits::{MAX_CREDENTIAL_COUNT_IN_LIST, MAX_CREDENTIAL_ID_LENGTH, MAX_MSG_SIZE};
use crate::status::StatusCode;
use crate::store::CredentialStore;
use crate::wire::get_info::{OptionId, Response, Transport, Version};

impl<E: Env> Authenticator<E> {
    /// The getInfo response for the current configuration and store.
    pub fn get_info(&self) -> Result<Response, StatusCode> {
        let mut options = vec![
            (OptionId::Rk, true),
            (OptionId::Up, true),
            (OptionId::Plat, false),
        ];
        // "uv" present means a built-in method exists; true means it is
        // configured, which a virtual sensor always is.
        if self.config.builtin_uv {
            options.push((OptionId::Uv, true));
        }
        let remaining = self.env.store_ref().remaining_discoverable()?;
        Ok(Response {
            // FIDO_2_1 needs ClientPIN, credential management and the rest of
            // CTAP 2.1, which this build does not have yet.
            versions: vec![Version::Fido2_0],
            extensions: Vec::new(),
            aaguid: self.config.aaguid,
            options,
            max_msg_size: MAX_MSG_SIZE as u64,
            pin_uv_auth_protocols: Vec::new(),
            max_credential_count_in_list: MAX_CREDENTIAL_COUNT_IN_LIST as u64,
            max_credential_id_length: MAX_CREDENTIAL_ID_LENGTH as u64,
            transports: vec![Transport::Usb],
            algorithms: self.config.algorithms.clone(),
            firmware_version: u64::from(self.config.firmware_version),
            remaining_discoverable_credentials: remaining as u64,
            attestation_formats: self.attestation_formats(),
        })
    }
}
