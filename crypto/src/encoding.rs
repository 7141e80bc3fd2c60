//! Byte encodings shared by the modules: unpadded base64url (strict, so every
//! byte string has exactly one text form), serde adapters for byte fields, and
//! the length-prefixed framing used for everything that is hashed or signed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::CryptoError;

/// Unpadded base64url.
pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict unpadded base64url decoding; `what` names the field in the error.
pub(crate) fn unb64(s: &str, what: &str) -> Result<Vec<u8>, CryptoError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| CryptoError::Malformed(format!("{what}: invalid base64url")))
}

/// Decodes base64url into exactly `N` bytes.
pub(crate) fn unb64_array<const N: usize>(s: &str, what: &str) -> Result<[u8; N], CryptoError> {
    let v = unb64(s, what)?;
    <[u8; N]>::try_from(v.as_slice())
        .map_err(|_| CryptoError::Malformed(format!("{what}: expected {N} bytes")))
}

/// Appends `bytes` preceded by its length as a big-endian u64, so that
/// concatenations of variable-length fields cannot be re-split differently.
pub(crate) fn put_lp(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// serde adapter: `Vec<u8>` as unpadded base64url.
pub(crate) mod b64_vec {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::b64(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        super::unb64(&s, "byte field").map_err(serde::de::Error::custom)
    }
}

/// serde adapter: `[u8; N]` as unpadded base64url of exactly `N` bytes.
pub(crate) mod b64_array {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer, const N: usize>(
        v: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::b64(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = String::deserialize(d)?;
        super::unb64_array::<N>(&s, "byte field").map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_is_strict() {
        assert_eq!(b64(&[0xfb, 0xff]), "-_8");
        assert_eq!(unb64("-_8", "x").unwrap(), vec![0xfb, 0xff]);
        // Padding, standard alphabet and non-canonical trailing bits are refused.
        assert!(unb64("-_8=", "x").is_err());
        assert!(unb64("+/8", "x").is_err());
        assert!(unb64("-_9", "x").is_err());
        assert!(unb64_array::<3>("-_8", "x").is_err());
    }

    #[test]
    fn length_prefix_disambiguates() {
        let mut a = Vec::new();
        put_lp(&mut a, b"ab");
        put_lp(&mut a, b"c");
        let mut b = Vec::new();
        put_lp(&mut b, b"a");
        put_lp(&mut b, b"bc");
        assert_ne!(a, b);
        assert_eq!(&a[..8], &2u64.to_be_bytes());
    }
}
