//! The checks a browser makes before it talks to an authenticator
//! (WebAuthn L3 §5.1.3 steps 5–8 and §5.1.4.1 steps 6–8), each of which a
//! caller can switch off on purpose to see what an RP does with the result.

use url::Url;

use crate::ClientError;

/// Which client-side rules to break on purpose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Breaks {
    /// Accept an origin that is not a secure context (plain http on a host
    /// other than localhost).
    pub insecure_origin: bool,
    /// Accept an RP ID that is not the origin's effective domain or a
    /// registrable domain suffix of it.
    pub foreign_rp_id: bool,
}

/// A parsed, checked origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The serialized origin (`https://example.com`, no path).
    pub serialized: String,
    /// Its host, the effective domain.
    pub host: String,
}

fn is_localhost(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost")
}

/// Parses `origin` and checks it is a secure context: https, or http on
/// localhost (§5.1.3 step 5: the relevant settings object is a secure
/// context; browsers treat localhost as one).
pub fn parse_origin(origin: &str, breaks: Breaks) -> Result<Origin, ClientError> {
    let url = Url::parse(origin)
        .map_err(|e| ClientError::Type(format!("origin `{origin}`: not a URL ({e})")))?;
    let host = url
        .host_str()
        .ok_or_else(|| ClientError::Type(format!("origin `{origin}`: no host")))?
        .to_ascii_lowercase();
    let secure = url.scheme() == "https" || (url.scheme() == "http" && is_localhost(&host));
    if !secure && !breaks.insecure_origin {
        return Err(ClientError::Security(format!(
            "origin `{origin}` is not a secure context (https, or http on localhost); --break insecure-origin sends it anyway"
        )));
    }
    Ok(Origin {
        serialized: url.origin().ascii_serialization(),
        host,
    })
}

/// The RP ID to use: `requested`, checked against the origin, or the
/// origin's effective domain (§5.1.3 step 8, §5.1.4.1 step 8).
pub fn rp_id(
    origin: &Origin,
    requested: Option<&str>,
    breaks: Breaks,
) -> Result<String, ClientError> {
    let Some(rp) = requested else {
        return Ok(origin.host.clone());
    };
    let rp = rp.to_ascii_lowercase();
    if breaks.foreign_rp_id {
        return Ok(rp);
    }
    let suffix = origin.host == rp || origin.host.ends_with(&format!(".{rp}"));
    // A public suffix (com, co.uk, github.io) is never a registrable
    // domain suffix, even when the host ends with it.
    let public = psl::suffix_str(&rp) == Some(rp.as_str());
    if !suffix || (public && origin.host != rp) || rp.is_empty() {
        return Err(ClientError::Security(format!(
            "rpId `{rp}` is not `{}` or a registrable domain suffix of it; --break foreign-rp-id sends it anyway",
            origin.host
        )));
    }
    Ok(rp)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn secure_contexts() {
        let ok = |o: &str| parse_origin(o, Breaks::default()).unwrap();
        assert_eq!(
            ok("https://Example.com/path?q").serialized,
            "https://example.com"
        );
        assert_eq!(
            ok("https://example.com:8443").serialized,
            "https://example.com:8443"
        );
        assert_eq!(ok("http://localhost:3000").host, "localhost");
        assert_eq!(ok("http://app.localhost").host, "app.localhost");
        for bad in [
            "http://example.com",
            "ftp://example.com",
            "example.com",
            "https://",
        ] {
            assert!(parse_origin(bad, Breaks::default()).is_err(), "{bad}");
        }
        let broken = Breaks {
            insecure_origin: true,
            ..Breaks::default()
        };
        assert!(parse_origin("http://example.com", broken).is_ok());
    }

    #[test]
    fn rp_ids() {
        let o = parse_origin("https://login.shop.example.co.uk", Breaks::default()).unwrap();
        let ok = |r: Option<&str>| rp_id(&o, r, Breaks::default());
        assert_eq!(ok(None).unwrap(), "login.shop.example.co.uk");
        assert_eq!(
            ok(Some("shop.example.co.uk")).unwrap(),
            "shop.example.co.uk"
        );
        assert_eq!(ok(Some("example.co.uk")).unwrap(), "example.co.uk");
        assert!(ok(Some("co.uk")).is_err(), "a public suffix");
        assert!(ok(Some("uk")).is_err());
        assert!(ok(Some("other.co.uk")).is_err());
        assert!(
            ok(Some("hop.example.co.uk")).is_err(),
            "not a label boundary"
        );
        let broken = Breaks {
            foreign_rp_id: true,
            ..Breaks::default()
        };
        assert_eq!(
            rp_id(&o, Some("evil.example"), broken).unwrap(),
            "evil.example"
        );
        let gh = parse_origin("https://alice.github.io", Breaks::default()).unwrap();
        assert!(rp_id(&gh, Some("github.io"), Breaks::default()).is_err());
    }
}
