//! authenticatorBioEnrollment (0x09), CTAP 2.1 §6.7, for the virtual
//! fingerprint sensor of a device configured with `bio_enroll`.
//!
//! A sample is a touch: the injected user-presence source answers each
//! capture. A touch the user makes is a good sample
//! (CTAP2_ENROLL_FEEDBACK_FP_GOOD); a refused one is a poor sample that
//! does not count (FP_POOR_QUALITY); a time-out or a cancel ends the
//! capture with CTAP2_ERR_USER_ACTION_TIMEOUT or CTAP2_ERR_KEEPALIVE_CANCEL.
//! Templates live in the device state, so they survive restarts;
//! authenticatorReset removes them. An enrollment in progress lives in
//! memory and ends with a power cycle.

use super::Authenticator;
use crate::env::{Env, PresenceError, PresenceRequest};
use crate::status::StatusCode;
use crate::store::Fingerprint;
use crate::wire::bio::{
    feedback, Request, Response, SubCommand, TemplateInfo, FINGERPRINT_KIND_TOUCH,
    MODALITY_FINGERPRINT,
};
use crate::wire::client_pin::permission;

/// maxCaptureSamplesRequiredForEnroll: good samples per template.
pub(crate) const SAMPLES_PER_TEMPLATE: u8 = 4;

/// The most templates the sensor keeps; one more is
/// CTAP2_ERR_FP_DATABASE_FULL.
pub(crate) const MAX_TEMPLATES: usize = 5;

/// maxTemplateFriendlyName, in bytes of UTF-8.
pub(crate) const MAX_FRIENDLY_NAME: usize = 64;

/// The templateId a subcommand needs (CTAP2_ERR_MISSING_PARAMETER
/// without one).
fn template_id(req: &Request) -> Result<&[u8], StatusCode> {
    req.params
        .template_id
        .as_deref()
        .ok_or(StatusCode::MissingParameter)
}

/// An enrollment between enrollBegin and its last sample.
#[derive(Debug, Clone)]
pub(crate) struct Enrollment {
    template_id: Vec<u8>,
    remaining: u8,
}

impl<E: Env> Authenticator<E> {
    /// authenticatorBioEnrollment.
    pub(crate) fn bio_enrollment(&mut self, params: &[u8]) -> Result<Vec<u8>, StatusCode> {
        if !self.config.bio_enroll {
            // No sensor to manage: getInfo does not advertise bioEnroll.
            return Err(StatusCode::InvalidCommand);
        }
        let req = Request::decode(params)?;
        // §6.7.1: getModality is answered on its own.
        if req.get_modality {
            return Ok(Response {
                modality: Some(MODALITY_FINGERPRINT),
                ..Default::default()
            }
            .encode());
        }
        let modality = req.modality.ok_or(StatusCode::MissingParameter)?;
        if modality != MODALITY_FINGERPRINT {
            return Err(StatusCode::InvalidParameter);
        }
        let sub = req.sub_command.ok_or(StatusCode::MissingParameter)?;
        let sub = SubCommand::from_u64(sub).ok_or(StatusCode::InvalidSubcommand)?;
        if sub.needs_auth() {
            self.check_be_auth(&req, sub)?;
        }
        let response = match sub {
            SubCommand::GetFingerprintSensorInfo => Response {
                modality: Some(MODALITY_FINGERPRINT),
                fingerprint_kind: Some(FINGERPRINT_KIND_TOUCH),
                max_capture_samples: Some(u64::from(SAMPLES_PER_TEMPLATE)),
                max_friendly_name: Some(MAX_FRIENDLY_NAME as u64),
                ..Default::default()
            },
            SubCommand::EnrollBegin => self.enroll_begin()?,
            SubCommand::EnrollCaptureNextSample => {
                let id = template_id(&req)?;
                self.enroll_next(id)?
            }
            SubCommand::CancelCurrentEnrollment => {
                self.enrollment = None;
                Response::default()
            }
            SubCommand::EnumerateEnrollments => {
                let state = self.device_state()?;
                // §6.7.5: no template is CTAP2_ERR_INVALID_OPTION.
                if state.fingerprints.is_empty() {
                    return Err(StatusCode::InvalidOption);
                }
                Response {
                    template_infos: Some(
                        state
                            .fingerprints
                            .iter()
                            .map(|f| TemplateInfo {
                                id: f.id.clone(),
                                name: f.name.clone(),
                            })
                            .collect(),
                    ),
                    ..Default::default()
                }
            }
            SubCommand::SetFriendlyName => {
                let id = template_id(&req)?;
                let name = req
                    .params
                    .friendly_name
                    .as_deref()
                    .ok_or(StatusCode::MissingParameter)?;
                if name.len() > MAX_FRIENDLY_NAME {
                    return Err(StatusCode::InvalidLength);
                }
                let mut state = self.device_state()?;
                let f = state
                    .fingerprints
                    .iter_mut()
                    .find(|f| f.id == id)
                    .ok_or(StatusCode::InvalidOption)?;
                f.name = name.to_owned();
                self.save_device_state(&state)?;
                Response::default()
            }
            SubCommand::RemoveEnrollment => {
                let id = template_id(&req)?;
                let mut state = self.device_state()?;
                let before = state.fingerprints.len();
                state.fingerprints.retain(|f| f.id != id);
                if state.fingerprints.len() == before {
                    return Err(StatusCode::InvalidOption);
                }
                self.save_device_state(&state)?;
                Response::default()
            }
        };
        Ok(response.encode())
    }

    /// §6.7 common steps for the authenticated subcommands: a
    /// pinUvAuthParam over modality ‖ subCommand ‖ subCommandParams, from
    /// a token with the `be` permission.
    fn check_be_auth(&mut self, req: &Request, sub: SubCommand) -> Result<(), StatusCode> {
        let param = req
            .pin_uv_auth_param
            .as_deref()
            .ok_or(StatusCode::PuatRequired)?;
        let protocol = Self::pin_protocol(req.protocol)?;
        // Both fit a byte: they were matched against known values above.
        let mut message = vec![MODALITY_FINGERPRINT as u8, sub as u8];
        message.extend_from_slice(&req.params_bytes);
        self.check_token(protocol, param, &message, permission::BE, None, false)?;
        Ok(())
    }

    /// enrollBegin (§6.7.3): a new template ID and its first sample.
    fn enroll_begin(&mut self) -> Result<Response, StatusCode> {
        let state = self.device_state()?;
        if state.fingerprints.len() >= MAX_TEMPLATES {
            return Err(StatusCode::FpDatabaseFull);
        }
        // The lowest one-byte ID no template has.
        let id = (1..=u8::MAX)
            .find(|n| !state.fingerprints.iter().any(|f| f.id == [*n]))
            .ok_or(StatusCode::FpDatabaseFull)?;
        self.enrollment = Some(Enrollment {
            template_id: vec![id],
            remaining: SAMPLES_PER_TEMPLATE,
        });
        let mut response = self.capture_sample()?;
        response.template_id = Some(vec![id]);
        Ok(response)
    }

    /// enrollCaptureNextSample (§6.7.4) for the enrollment in progress.
    fn enroll_next(&mut self, template_id: &[u8]) -> Result<Response, StatusCode> {
        match &self.enrollment {
            Some(e) if e.template_id == template_id => self.capture_sample(),
            _ => Err(StatusCode::InvalidOption),
        }
    }

    /// One sample for the enrollment in progress; the last good one
    /// stores the template.
    fn capture_sample(&mut self) -> Result<Response, StatusCode> {
        let good = match self
            .env
            .check_user(&PresenceRequest::EnrollSample, true, false)
        {
            Ok(check) => check.up,
            Err(PresenceError::Denied) => false,
            Err(PresenceError::Timeout) => {
                self.enrollment = None;
                return Err(StatusCode::UserActionTimeout);
            }
            Err(PresenceError::Cancelled) => {
                self.enrollment = None;
                return Err(StatusCode::KeepaliveCancel);
            }
        };
        let e = self.enrollment.as_mut().ok_or(StatusCode::InvalidOption)?;
        if good {
            e.remaining = e.remaining.saturating_sub(1);
        }
        let remaining = e.remaining;
        if remaining == 0 {
            let id = e.template_id.clone();
            self.enrollment = None;
            let mut state = self.device_state()?;
            state.fingerprints.push(Fingerprint {
                id,
                name: String::new(),
            });
            // A newly enrolled finger is a working UV method again.
            state.uv_retries = self.config.uv_retries;
            self.save_device_state(&state)?;
        }
        Ok(Response {
            last_sample_status: Some(if good {
                feedback::FP_GOOD
            } else {
                feedback::FP_POOR_QUALITY
            }),
            remaining_samples: Some(u64::from(remaining)),
            ..Default::default()
        })
    }

    /// Whether built-in UV is configured (getInfo `uv` true, §6.4): a
    /// method exists and, for a fingerprint sensor, a finger is enrolled.
    pub(crate) fn uv_configured(&self, state: &crate::store::DeviceState) -> bool {
        self.config.builtin_uv && (!self.config.bio_enroll || !state.fingerprints.is_empty())
    }
}
