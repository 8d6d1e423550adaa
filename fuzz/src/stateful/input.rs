//! The fuzz input: a device configuration and the operations to run,
//! decoded from the fuzzer's bytes with `arbitrary`. The order of the
//! types' fields and variants is what stored inputs decode against.

use arbitrary::Arbitrary;

#[derive(Arbitrary, Debug)]
pub struct Setup {
    pub(crate) attestation: u8,
    pub(crate) counter: u8,
    pub(crate) algorithms: u8,
    pub(crate) builtin_uv: bool,
    pub(crate) make_cred_uv_not_rqd: bool,
    pub(crate) always_uv: bool,
    pub(crate) initial_pin: bool,
    pub(crate) reset_always: bool,
    pub(crate) synced: bool,
    /// Room for 1..=8 discoverable credentials, so that a full store and
    /// replacement are reachable.
    pub(crate) capacity: u8,
    pub(crate) seed: u8,
    /// An enterprise attestation identity (getInfo `ep`, §7.1).
    pub(crate) enterprise: bool,
}

#[derive(Arbitrary, Debug)]
pub(crate) enum Pick {
    /// The n-th credential ID seen so far (modulo how many there are).
    Known(u8),
    /// Some other bytes.
    Random(Vec<u8>),
}

/// How a makeCredential / getAssertion carries a pinUvAuthParam.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub(crate) enum Auth {
    /// authenticate(token, clientDataHash) under the token's protocol.
    Token,
    /// The same under the other protocol.
    OtherProtocol,
    /// The right value with one bit flipped.
    Tampered,
    /// A zero-length pinUvAuthParam (the CTAP 2.0 "touch" probe).
    Empty,
    /// A pinUvAuthParam without pinUvAuthProtocol.
    NoProtocol,
    /// pinUvAuthProtocol 3.
    BadProtocol,
}

/// A defect put into a clientPIN request or an hmac-secret input.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub(crate) enum Fault {
    None,
    /// A pinUvAuthParam / saltAuth with one bit flipped (for the token
    /// subcommands: a flipped pinHashEnc; for the UV token: no permissions).
    BadAuth,
    /// A valid platform key whose shared secret the device does not share
    /// (from before the key-agreement keys changed, or never agreed).
    StaleKey,
    /// A keyAgreement that is not a P-256 point.
    BadKey,
    /// A wrong plaintext length: a 32-byte padded PIN, a 32-byte PIN hash,
    /// a 16-byte salt (for the UV token: no keyAgreement).
    WrongLength,
}

/// An hmac-secret (getAssertion) or hmac-secret-mc (makeCredential) input.
#[derive(Arbitrary, Debug)]
pub(crate) struct SaltInput {
    /// The pinUvAuthProtocol member: absent (protocol one), 1 or 2.
    pub(crate) protocol: Option<bool>,
    /// One or two salts.
    pub(crate) two: bool,
    pub(crate) salt: u8,
    pub(crate) fault: Fault,
}

#[derive(Arbitrary, Debug)]
pub(crate) struct McExtensions {
    /// credProtect level; 0 and 4 are not levels (ignored by the device).
    pub(crate) cred_protect: Option<u8>,
    pub(crate) cred_blob: Option<Vec<u8>>,
    pub(crate) large_blob_key: Option<bool>,
    pub(crate) hmac_secret: Option<bool>,
    pub(crate) hmac_secret_mc: Option<SaltInput>,
    pub(crate) min_pin_length: bool,
}

#[derive(Arbitrary, Debug)]
pub(crate) struct GaExtensions {
    pub(crate) cred_blob: Option<bool>,
    pub(crate) large_blob_key: Option<bool>,
    pub(crate) hmac_secret: Option<SaltInput>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub(crate) enum PinPick {
    /// The PIN the model knows is set (or `INITIAL_PIN` when none is).
    Current,
    /// `PINS[n % PINS.len()]`.
    Candidate(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub(crate) enum Permissions {
    McGa,
    Mc,
    Ga,
    /// getPinToken (0x05): no permissions member, mc and ga implied.
    Legacy,
    /// Credential management (§6.5.5.7 cm).
    Cm,
    /// Large-blob writes (lbw).
    Lbw,
    /// authenticatorConfig (acfg).
    Acfg,
    /// mc, ga, cm, lbw and acfg.
    All,
    /// Any bits, including 0 and ones the device does not grant.
    Bits(u8),
}

#[derive(Arbitrary, Debug)]
pub(crate) enum Op {
    MakeCredential {
        /// Index into `RPS`.
        rp: u8,
        user: u8,
        rk: bool,
        uv: Option<bool>,
        up: Option<bool>,
        /// 0: ES256, 1: EdDSA, 2: EdDSA then ES256, 3: an unknown algorithm.
        alg: u8,
        exclude: Vec<Pick>,
        client_data: u8,
        /// 0: none given, 1: ["none"], 2: ["packed"], 3: ["x", "packed"].
        formats: u8,
        ext: Option<McExtensions>,
        auth: Option<Auth>,
        /// Whether rp carries its name.
        rp_name: bool,
        /// The enterpriseAttestation member (§6.1.2 step 9): 0–3.
        enterprise: Option<u8>,
    },
    GetAssertion {
        rp: u8,
        allow: Vec<Pick>,
        up: Option<bool>,
        uv: Option<bool>,
        client_data: u8,
        ext: Option<GaExtensions>,
        auth: Option<Auth>,
    },
    GetNextAssertion,
    /// getAssertion without an allowList followed by as many
    /// getNextAssertion calls as it announces (at most 8), so that whole
    /// sequences are common.
    AssertAll {
        rp: u8,
        up: Option<bool>,
        uv: Option<bool>,
        client_data: u8,
        auth: Option<Auth>,
    },
    GetInfo,
    Reset,
    Selection,
    PowerCycle,
    AdvanceClock(u16),
    SetPresence(u8),
    SetUv(bool),
    Raw(Vec<u8>),
    /// getKeyAgreement, then setPIN.
    SetPin {
        v2: bool,
        pin: u8,
        fault: Fault,
    },
    /// getKeyAgreement, then changePIN.
    ChangePin {
        v2: bool,
        current: PinPick,
        new: u8,
        fault: Fault,
    },
    /// getKeyAgreement, then getPinUvAuthTokenUsingPinWithPermissions (or
    /// getPinToken).
    PinToken {
        v2: bool,
        pin: PinPick,
        permissions: Permissions,
        rp: Option<u8>,
        fault: Fault,
    },
    /// getKeyAgreement, then getPinUvAuthTokenUsingUvWithPermissions.
    UvToken {
        v2: bool,
        permissions: Permissions,
        rp: Option<u8>,
        fault: Fault,
    },
    /// getPINRetries and getUVRetries.
    Retries,
    /// authenticatorCredentialManagement (§6.8), as 0x0A or as the
    /// FIDO_2_1_PRE 0x41.
    CredMgmt {
        preview: bool,
        sub: CmSub,
        auth: Option<Auth>,
    },
    /// authenticatorConfig (§6.11).
    Config {
        sub: CfgSub,
        auth: Option<Auth>,
    },
    /// A largeBlobs read (§6.10.2 step 4).
    LargeBlobGet {
        offset: u16,
        get: u16,
        junk: u8,
    },
    /// A whole serialized large-blob array written in fragments (§6.10.2
    /// step 5), each with its pinUvAuthParam; the hash may be wrong.
    LargeBlobWrite {
        data: Vec<u8>,
        fragment: u8,
        corrupt: bool,
        auth: Option<Auth>,
    },
    /// One largeBlobs set fragment: at the expected offset (below 0x8000)
    /// or another one, of `size` bytes or `data`, with a length or not.
    LargeBlobFragment {
        offset: u16,
        data: Vec<u8>,
        size: Option<u16>,
        length: Option<u16>,
        auth: Option<Auth>,
    },
}

/// A credential management subcommand (§6.8.2–§6.8.6).
#[derive(Arbitrary, Debug)]
pub(crate) enum CmSub {
    Metadata,
    /// enumerateRPsBegin, then (with `all`) enumerateRPsGetNextRP until
    /// the last RP.
    Rps {
        all: bool,
    },
    NextRp,
    /// enumerateCredentialsBegin for `RPS[rp]` (or, from 3 on, a hash of
    /// no RP), then (with `all`) GetNextCredential until the last one.
    Credentials {
        rp: u8,
        all: bool,
    },
    NextCredential,
    Delete(Pick),
    /// updateUserInformation with the credential's user handle (or
    /// another one); names absent (None), empty (Some(0)) or new.
    Update {
        cred: Pick,
        other_user: bool,
        name: Option<u8>,
        display_name: Option<u8>,
    },
    /// A subcommand number without parameters.
    Bare(u8),
}

/// An authenticatorConfig subcommand (§6.11.1–§6.11.4).
#[derive(Arbitrary, Debug)]
pub(crate) enum CfgSub {
    EnableEnterpriseAttestation,
    ToggleAlwaysUv,
    /// setMinPINLength; `params` false sends no subCommandParams.
    SetMinPinLength {
        params: bool,
        new_min: Option<u8>,
        rp_ids: Option<u8>,
        force: Option<bool>,
    },
    /// A subcommand number without parameters.
    Other(u8),
}

#[derive(Arbitrary, Debug)]
pub struct Input {
    pub(crate) setup: Setup,
    pub(crate) ops: Vec<Op>,
}
