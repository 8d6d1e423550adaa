//! authenticatorBioEnrollment (0x09), CTAP 2.1 §6.7: fingerprint templates
//! enrolled, listed, renamed and removed.

use crate::cbor::{self, Fields, MapBuilder, Value};
use crate::status::StatusCode;

/// modality 0x01: fingerprint (§6.7, the only modality defined).
pub const MODALITY_FINGERPRINT: u64 = 0x01;

/// fingerprintKind 0x01: a touch sensor (0x02 would be a swipe sensor).
pub const FINGERPRINT_KIND_TOUCH: u64 = 0x01;

/// lastEnrollSampleStatus values (§6.7.4).
pub mod feedback {
    /// CTAP2_ENROLL_FEEDBACK_FP_GOOD: the sample counts.
    pub const FP_GOOD: u64 = 0x00;
    /// CTAP2_ENROLL_FEEDBACK_FP_POOR_QUALITY: the sample does not count.
    pub const FP_POOR_QUALITY: u64 = 0x07;
}

/// The subcommands (§6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubCommand {
    /// 0x01 enrollBegin.
    EnrollBegin = 0x01,
    /// 0x02 enrollCaptureNextSample.
    EnrollCaptureNextSample = 0x02,
    /// 0x03 cancelCurrentEnrollment.
    CancelCurrentEnrollment = 0x03,
    /// 0x04 enumerateEnrollments.
    EnumerateEnrollments = 0x04,
    /// 0x05 setFriendlyName.
    SetFriendlyName = 0x05,
    /// 0x06 removeEnrollment.
    RemoveEnrollment = 0x06,
    /// 0x07 getFingerprintSensorInfo.
    GetFingerprintSensorInfo = 0x07,
}

impl SubCommand {
    /// The subcommand with this number.
    pub fn from_u64(v: u64) -> Option<Self> {
        Some(match v {
            0x01 => Self::EnrollBegin,
            0x02 => Self::EnrollCaptureNextSample,
            0x03 => Self::CancelCurrentEnrollment,
            0x04 => Self::EnumerateEnrollments,
            0x05 => Self::SetFriendlyName,
            0x06 => Self::RemoveEnrollment,
            0x07 => Self::GetFingerprintSensorInfo,
            _ => return None,
        })
    }

    /// The spec's name, for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::EnrollBegin => "enrollBegin",
            Self::EnrollCaptureNextSample => "enrollCaptureNextSample",
            Self::CancelCurrentEnrollment => "cancelCurrentEnrollment",
            Self::EnumerateEnrollments => "enumerateEnrollments",
            Self::SetFriendlyName => "setFriendlyName",
            Self::RemoveEnrollment => "removeEnrollment",
            Self::GetFingerprintSensorInfo => "getFingerprintSensorInfo",
        }
    }

    /// Whether the subcommand is authenticated with a pinUvAuthParam
    /// (§6.7.3–§6.7.8: all but cancelCurrentEnrollment and
    /// getFingerprintSensorInfo).
    pub fn needs_auth(self) -> bool {
        !matches!(
            self,
            Self::CancelCurrentEnrollment | Self::GetFingerprintSensorInfo
        )
    }
}

/// subCommandParams (§6.7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// 0x01 templateId.
    pub template_id: Option<Vec<u8>>,
    /// 0x02 templateFriendlyName.
    pub friendly_name: Option<String>,
    /// 0x03 timeoutMilliseconds.
    pub timeout_ms: Option<u64>,
}

/// A decoded bio enrollment request.
#[derive(Debug, Clone)]
pub struct Request {
    /// 0x01 modality.
    pub modality: Option<u64>,
    /// 0x02 subCommand, as sent (checked by the handler, after
    /// getModality).
    pub sub_command: Option<u64>,
    /// 0x03 subCommandParams, decoded.
    pub params: Params,
    /// The subCommandParams exactly as received (the pinUvAuthParam
    /// covers these bytes).
    pub params_bytes: Vec<u8>,
    /// 0x04 pinUvAuthProtocol.
    pub protocol: Option<u64>,
    /// 0x05 pinUvAuthParam.
    pub pin_uv_auth_param: Option<Vec<u8>>,
    /// 0x06 getModality.
    pub get_modality: bool,
}

/// The longest template ID and friendly name a request may carry.
const MAX_TEMPLATE_ID: usize = 64;
const MAX_NAME_BYTES: usize = 1024;

impl Request {
    /// Decodes the CBOR parameters.
    pub fn decode(bytes: &[u8]) -> Result<Self, StatusCode> {
        let mut m = Fields::decode(bytes)?;
        let modality = m.take(0x01).map(cbor::as_uint).transpose()?;
        let sub_command = m.take(0x02).map(cbor::as_uint).transpose()?;
        let (params, params_bytes) = match m.take(0x03) {
            Some(v) => {
                let encoded = cbor::encode(&v);
                (decode_params(v)?, encoded)
            }
            None => (Params::default(), Vec::new()),
        };
        let protocol = m.take(0x04).map(cbor::as_uint).transpose()?;
        let pin_uv_auth_param = m.take(0x05).map(|v| cbor::as_bytes(v, 64)).transpose()?;
        let get_modality = m
            .take(0x06)
            .map(cbor::as_bool)
            .transpose()?
            .unwrap_or(false);
        Ok(Self {
            modality,
            sub_command,
            params,
            params_bytes,
            protocol,
            pin_uv_auth_param,
            get_modality,
        })
    }
}

fn decode_params(v: Value) -> Result<Params, StatusCode> {
    let mut m = Fields::from_value(v)?;
    Ok(Params {
        template_id: m
            .take(0x01)
            .map(|v| cbor::as_bytes(v, MAX_TEMPLATE_ID))
            .transpose()?,
        friendly_name: m
            .take(0x02)
            .map(|v| cbor::as_text(v, MAX_NAME_BYTES))
            .transpose()?,
        timeout_ms: m.take(0x03).map(cbor::as_uint).transpose()?,
    })
}

/// One enrolled template in an enumeration (templateInfo, §6.7.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateInfo {
    /// 0x01 templateId.
    pub id: Vec<u8>,
    /// 0x02 templateFriendlyName.
    pub name: String,
}

/// The response members (§6.7); each subcommand fills its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// 0x01 modality.
    pub modality: Option<u64>,
    /// 0x02 fingerprintKind.
    pub fingerprint_kind: Option<u64>,
    /// 0x03 maxCaptureSamplesRequiredForEnroll.
    pub max_capture_samples: Option<u64>,
    /// 0x04 templateId.
    pub template_id: Option<Vec<u8>>,
    /// 0x05 lastEnrollSampleStatus.
    pub last_sample_status: Option<u64>,
    /// 0x06 remainingSamples.
    pub remaining_samples: Option<u64>,
    /// 0x07 templateInfos.
    pub template_infos: Option<Vec<TemplateInfo>>,
    /// 0x08 maxTemplateFriendlyName.
    pub max_friendly_name: Option<u64>,
}

impl Response {
    /// The CBOR body; an empty body when nothing is set.
    pub fn encode(&self) -> Vec<u8> {
        if *self == Self::default() {
            return Vec::new();
        }
        let infos = self.template_infos.as_ref().map(|infos| {
            Value::Array(
                infos
                    .iter()
                    .map(|t| {
                        // The name is always sent (empty when none was
                        // given): clients read it for every template.
                        MapBuilder::new()
                            .int(0x01, cbor::bytes(t.id.clone()))
                            .int(0x02, t.name.as_str())
                            .build()
                    })
                    .collect(),
            )
        });
        cbor::encode(
            &MapBuilder::new()
                .opt(0x01, self.modality)
                .opt(0x02, self.fingerprint_kind)
                .opt(0x03, self.max_capture_samples)
                .opt(0x04, self.template_id.clone().map(cbor::bytes))
                .opt(0x05, self.last_sample_status)
                .opt(0x06, self.remaining_samples)
                .opt(0x07, infos)
                .opt(0x08, self.max_friendly_name)
                .build(),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn requests_decode_and_keep_their_parameter_bytes() {
        let params = MapBuilder::new()
            .int(0x01, cbor::bytes(vec![7]))
            .int(0x02, "left thumb")
            .int(0x03, 5000u64)
            .build();
        let body = cbor::encode(
            &MapBuilder::new()
                .int(0x01, 1u64)
                .int(0x02, 5u64)
                .int(0x03, params.clone())
                .int(0x04, 2u64)
                .int(0x05, cbor::bytes(vec![0; 32]))
                .build(),
        );
        let r = Request::decode(&body).unwrap();
        assert_eq!(
            (r.modality, r.sub_command, r.protocol),
            (Some(1), Some(5), Some(2))
        );
        assert_eq!(r.params.template_id, Some(vec![7]));
        assert_eq!(r.params.friendly_name.as_deref(), Some("left thumb"));
        assert_eq!(r.params.timeout_ms, Some(5000));
        assert_eq!(r.params_bytes, cbor::encode(&params));
        assert!(!r.get_modality);
        // getModality alone.
        let r = Request::decode(&cbor::encode(&MapBuilder::new().int(0x06, true).build())).unwrap();
        assert!(r.get_modality && r.sub_command.is_none());
        // A template ID of the wrong type.
        let bad = cbor::encode(
            &MapBuilder::new()
                .int(0x01, 1u64)
                .int(0x02, 2u64)
                .int(0x03, MapBuilder::new().int(0x01, "x").build())
                .build(),
        );
        assert_eq!(
            Request::decode(&bad).unwrap_err(),
            StatusCode::CborUnexpectedType
        );
    }

    #[test]
    fn responses_carry_only_what_is_set() {
        assert!(Response::default().encode().is_empty());
        let r = Response {
            template_infos: Some(vec![TemplateInfo {
                id: vec![1],
                name: String::new(),
            }]),
            ..Default::default()
        };
        let v = cbor::decode(&r.encode()).unwrap();
        let mut f = Fields::from_value(v).unwrap();
        let infos = cbor::as_array(f.take(0x07).unwrap(), 8).unwrap();
        let mut t = Fields::from_value(infos[0].clone()).unwrap();
        assert_eq!(cbor::as_bytes(t.take(0x01).unwrap(), 8).unwrap(), vec![1]);
        assert_eq!(cbor::as_text(t.take(0x02).unwrap(), 8).unwrap(), "");
        assert!(f.take(0x01).is_none());
    }
}
