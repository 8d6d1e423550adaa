//! The catalogue: one row per case, with its stable name.

/// When a case runs, and what the RP must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Register,
    Login,
}

/// The catalogue: stable names, what is sent.
pub(crate) const CASES: &[(&str, Phase, bool, &str)] = &[
    (
        "register.baseline",
        Phase::Register,
        true,
        "a valid registration",
    ),
    ("login.baseline", Phase::Login, true, "a valid assertion"),
    (
        "register.wrong-origin",
        Phase::Register,
        false,
        "clientDataJSON.origin https://evil.example",
    ),
    (
        "register.wrong-type",
        Phase::Register,
        false,
        "clientDataJSON.type webauthn.get",
    ),
    (
        "register.challenge-altered",
        Phase::Register,
        false,
        "the challenge with one bit flipped",
    ),
    (
        "register.challenge-reused",
        Phase::Register,
        false,
        "the challenge of an earlier registration",
    ),
    (
        "register.wrong-rp-id-hash",
        Phase::Register,
        false,
        "rpIdHash of evil.example",
    ),
    ("register.up-clear", Phase::Register, false, "UP flag clear"),
    (
        "register.uv-clear",
        Phase::Register,
        false,
        "UV flag clear although the RP required UV",
    ),
    (
        "register.trailing-bytes",
        Phase::Register,
        false,
        "4 bytes after the authenticator data",
    ),
    (
        "register.attested-data-malformed",
        Phase::Register,
        false,
        "credentialIdLength one too large",
    ),
    (
        "register.alg-mismatch",
        Phase::Register,
        false,
        "the COSE key's alg says another algorithm than its key type",
    ),
    (
        "register.duplicate-cbor-keys",
        Phase::Register,
        false,
        "attestationObject with \"fmt\" twice",
    ),
    (
        "register.non-canonical-cbor",
        Phase::Register,
        false,
        "attestationObject keys out of order, a long length form",
    ),
    (
        "register.oversized-credential-id",
        Phase::Register,
        false,
        "a 1024-byte credential ID (the limit is 1023)",
    ),
    (
        "register.credential-id-reused",
        Phase::Register,
        false,
        "another user's registered credential ID",
    ),
    (
        "register.untrusted-attestation",
        Phase::Register,
        false,
        "none attestation to an RP that demands trusted attestation",
    ),
    (
        "login.wrong-origin",
        Phase::Login,
        false,
        "clientDataJSON.origin https://evil.example, signed",
    ),
    (
        "login.wrong-type",
        Phase::Login,
        false,
        "clientDataJSON.type webauthn.create, signed",
    ),
    (
        "login.challenge-altered",
        Phase::Login,
        false,
        "the challenge with one bit flipped, signed",
    ),
    (
        "login.challenge-reused",
        Phase::Login,
        false,
        "the challenge of an earlier login, signed anew",
    ),
    (
        "login.wrong-rp-id-hash",
        Phase::Login,
        false,
        "rpIdHash of evil.example, signed",
    ),
    (
        "login.up-clear",
        Phase::Login,
        false,
        "UP flag clear, signed",
    ),
    (
        "login.uv-clear",
        Phase::Login,
        false,
        "UV flag clear although the RP required UV, signed",
    ),
    (
        "login.signature-invalid",
        Phase::Login,
        false,
        "the signature with one byte flipped",
    ),
    (
        "login.signature-over-other-data",
        Phase::Login,
        false,
        "a valid signature over another client data hash",
    ),
    (
        "login.counter-regression",
        Phase::Login,
        false,
        "a counter below the last accepted (a cloned authenticator), signed",
    ),
    (
        "login.counter-not-increasing",
        Phase::Login,
        false,
        "the last accepted counter again, signed",
    ),
    (
        "login.trailing-bytes",
        Phase::Login,
        false,
        "4 bytes after the authenticator data, signed",
    ),
    (
        "login.replayed-assertion",
        Phase::Login,
        false,
        "the accepted baseline assertion sent again",
    ),
    (
        "login.other-users-credential",
        Phase::Login,
        false,
        "another user's credential in a login begun for this user",
    ),
];
