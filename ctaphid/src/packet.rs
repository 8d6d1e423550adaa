//! CTAPHID packets (CTAP 2.1 §11.2.4): 64-byte reports, split into an
//! initialization packet and up to 128 continuation packets.
//!
//! ```text
//! init: | CID (4) | CMD|0x80 (1) | BCNTH | BCNTL | DATA (57) |
//! cont: | CID (4) | SEQ 0..=0x7F (1)             | DATA (59) |
//! ```

/// Size of every HID report on a full-speed FIDO device.
pub const REPORT_LEN: usize = 64;
/// Payload bytes in an initialization packet.
pub const INIT_DATA_LEN: usize = REPORT_LEN - 7;
/// Payload bytes in a continuation packet.
pub const CONT_DATA_LEN: usize = REPORT_LEN - 5;
/// Highest continuation sequence number.
pub const MAX_SEQ: u8 = 0x7F;
/// Largest message: one initialization and 128 continuation packets
/// (57 + 128 × 59 = 7609 bytes).
pub const MAX_MESSAGE_LEN: usize = INIT_DATA_LEN + (MAX_SEQ as usize + 1) * CONT_DATA_LEN;
/// The broadcast channel, used to allocate channels with CTAPHID_INIT.
pub const BROADCAST_CID: u32 = 0xFFFF_FFFF;

/// One 64-byte report.
pub type Report = [u8; REPORT_LEN];

/// A parsed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// An initialization packet.
    Init {
        /// Channel.
        cid: u32,
        /// Command (without the 0x80 bit).
        cmd: u8,
        /// Total payload length of the message.
        bcnt: u16,
        /// The first payload bytes (up to 57; may include padding).
        data: &'a [u8],
    },
    /// A continuation packet.
    Cont {
        /// Channel.
        cid: u32,
        /// Sequence number.
        seq: u8,
        /// The payload bytes (59; may include padding).
        data: &'a [u8],
    },
}

impl<'a> Packet<'a> {
    /// Parses a report; `None` when it is not exactly 64 bytes.
    pub fn parse(report: &'a [u8]) -> Option<Self> {
        if report.len() != REPORT_LEN {
            return None;
        }
        let cid = u32::from_be_bytes([report[0], report[1], report[2], report[3]]);
        if report[4] & 0x80 != 0 {
            Some(Self::Init {
                cid,
                cmd: report[4] & 0x7F,
                bcnt: u16::from_be_bytes([report[5], report[6]]),
                data: &report[7..],
            })
        } else {
            Some(Self::Cont {
                cid,
                seq: report[4],
                data: &report[5..],
            })
        }
    }

    /// The channel of the packet.
    pub fn cid(&self) -> u32 {
        match self {
            Self::Init { cid, .. } | Self::Cont { cid, .. } => *cid,
        }
    }
}

/// Splits a message into reports, zero-padded. Payloads longer than
/// [`MAX_MESSAGE_LEN`] are truncated to it (the senders in this crate never
/// produce them).
pub fn fragment(cid: u32, cmd: u8, payload: &[u8]) -> Vec<Report> {
    let payload = &payload[..payload.len().min(MAX_MESSAGE_LEN)];
    let mut out = Vec::with_capacity(
        1 + payload
            .len()
            .saturating_sub(INIT_DATA_LEN)
            .div_ceil(CONT_DATA_LEN),
    );
    let mut r = [0u8; REPORT_LEN];
    r[..4].copy_from_slice(&cid.to_be_bytes());
    r[4] = cmd | 0x80;
    // At most 7609, which fits in u16.
    let len = payload.len() as u16;
    r[5..7].copy_from_slice(&len.to_be_bytes());
    let first = payload.len().min(INIT_DATA_LEN);
    r[7..7 + first].copy_from_slice(&payload[..first]);
    out.push(r);
    for (seq, chunk) in payload[first..].chunks(CONT_DATA_LEN).enumerate() {
        let mut r = [0u8; REPORT_LEN];
        r[..4].copy_from_slice(&cid.to_be_bytes());
        // At most 128 chunks, so seq ≤ 0x7F.
        r[4] = seq as u8;
        r[5..5 + chunk.len()].copy_from_slice(chunk);
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(MAX_MESSAGE_LEN, 7609);
        assert_eq!(fragment(1, 0x10, &[]).len(), 1);
        assert_eq!(fragment(1, 0x10, &[0; 57]).len(), 1);
        assert_eq!(fragment(1, 0x10, &[0; 58]).len(), 2);
        assert_eq!(fragment(1, 0x10, &[0; 7609]).len(), 129);
    }

    #[test]
    fn layout() {
        let p = fragment(0x01020304, 0x10, &[0xAA; 60]);
        assert_eq!(&p[0][..7], &[1, 2, 3, 4, 0x90, 0, 60]);
        assert_eq!(&p[1][..8], &[1, 2, 3, 4, 0, 0xAA, 0xAA, 0xAA]);
        assert_eq!(p[1][8], 0, "padding");
        assert_eq!(
            Packet::parse(&p[0]),
            Some(Packet::Init {
                cid: 0x01020304,
                cmd: 0x10,
                bcnt: 60,
                data: &p[0][7..]
            })
        );
        assert!(Packet::parse(&p[0][..63]).is_none());
    }
}
