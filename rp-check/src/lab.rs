//! The attestation lab's material: the identity of a fidosim key whose
//! attestation CA the RP trusts (its baseline signs with it, and the lab's
//! defective certificates are issued by its CA), and the check that the
//! RP's trusted roots, when the config lists them, include that CA.

use std::path::Path;

use authenticator_core::AttestationIdentity;
use fidosim_store::DurableStore;
use x509_cert::der::{Decode, Encode};
use x509_cert::Certificate;

use crate::Error;

/// The trusted identity, and the AAGUID its batch certificate names.
pub(crate) struct Lab {
    pub(crate) trusted: AttestationIdentity,
    pub(crate) aaguid: [u8; 16],
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("trusted", &self.trusted)
            .finish_non_exhaustive()
    }
}

/// What to do to make a state file whose CA an RP can trust.
fn how(path: &Path) -> String {
    format!(
        "create it with `fidosim run --state {} --write-ca ca.pem` (stop the key once it is up) and make the RP trust ca.pem",
        path.display()
    )
}

impl Lab {
    /// Reads the attestation identity of the fidosim state file `path`.
    /// The file is only read: a missing file is an error, not a new key.
    pub(crate) fn open(path: &Path) -> Result<Self, Error> {
        if !path.is_file() {
            return Err(Error::Config(format!(
                "attestation_state {}: no such file; {}",
                path.display(),
                how(path)
            )));
        }
        let mut store = DurableStore::open(path).map_err(|e| {
            Error::Config(format!(
                "attestation_state {}: {e}; if a key runs on it, stop it while rp-check reads its attestation identity",
                path.display()
            ))
        })?;
        let trusted = store
            .identity("attestation", || {
                Err(format!(
                    "attestation_state {}: the state file holds no attestation identity; {}",
                    path.display(),
                    how(path)
                ))
            })
            .map_err(Error::Config)?;
        let aaguid = trusted.batch_aaguid().ok_or_else(|| {
            Error::Config(format!(
                "attestation_state {}: its attestation certificate names no AAGUID; {}",
                path.display(),
                how(path)
            ))
        })?;
        Ok(Self { trusted, aaguid })
    }

    /// Fails unless one of the PEM files `roots` holds this lab's CA.
    pub(crate) fn check_roots(&self, roots: &[std::path::PathBuf]) -> Result<(), Error> {
        if roots.is_empty() {
            return Ok(());
        }
        for path in roots {
            let pem = std::fs::read(path).map_err(|e| {
                Error::Config(format!(
                    "trusted_roots: cannot read {}: {}; list the PEM files of the RP's attestation roots",
                    path.display(),
                    fidosim_daemon::io_reason(&e)
                ))
            })?;
            let certs = Certificate::load_pem_chain(&pem).map_err(|e| {
                Error::Config(format!(
                    "trusted_roots: {} is not a PEM certificate file ({e}); list the PEM files of the RP's attestation roots",
                    path.display()
                ))
            })?;
            for cert in certs {
                if cert.to_der().ok().as_deref() == Some(self.trusted.ca_cert_der()) {
                    return Ok(());
                }
            }
        }
        // A parse check of our own CA keeps this message honest.
        let subject = Certificate::from_der(self.trusted.ca_cert_der())
            .map(|c| c.tbs_certificate().subject().to_string())
            .unwrap_or_default();
        Err(Error::Config(format!(
            "trusted_roots: none of the RP's roots is the attestation CA of attestation_state ({subject}); write it with `fidosim run --state PATH --write-ca ca.pem` and add ca.pem to the RP's roots and to trusted_roots"
        )))
    }
}
