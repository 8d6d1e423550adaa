//! CTAP1 / FIDO U2F raw messages (CTAP 2.1 §11.2.9.1.1 CTAPHID_MSG,
//! FIDO U2F Raw Message Formats).
