//! Base64 and percent-encoding exactly as the platforms' reference code does them.

use super::{AuthError, AuthResult};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

/// Standard alphabet, padding optional, non-canonical trailing bits accepted.
///
/// Python's `base64.b64decode` (and mbedTLS) accept keys such as `adfasdfadsfadsf=` whose last
/// symbol carries non-zero spare bits; the `base64` crate's strict `STANDARD` engine does not.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Standard base64 with padding, for output.
const STRICT: GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Decodes a base64 key as leniently as Python's `base64.b64decode`: white space (a key pasted
/// with a trailing newline) is ignored, spare bits in the last symbol are ignored, and missing
/// `=` padding is tolerated. Unlike Python, a character outside the base64 alphabet is an error
/// rather than silently dropped, because dropping it yields a different key and a signature the
/// platform refuses with no hint why.
///
/// `arg` names the argument in the error; the key itself never appears in it.
pub fn decode_base64_lenient(arg: &'static str, text: &str) -> AuthResult<Vec<u8>> {
    let cleaned: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let body = cleaned.trim_end_matches('=');
    if body.is_empty() {
        return Err(AuthError::arg(arg, "must be a non-empty base64 string"));
    }
    if let Some(pos) = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/')) {
        let what = if body[pos..].starts_with('=') {
            "'=' padding in the middle".to_string()
        } else {
            format!("a character outside the base64 alphabet at position {pos}")
        };
        return Err(AuthError::arg(arg, format!("is not valid base64: {what}")));
    }
    if body.len() % 4 == 1 {
        return Err(AuthError::arg(
            arg,
            format!(
                "is not valid base64: {} symbols cannot encode whole bytes",
                body.len()
            ),
        ));
    }
    LENIENT
        .decode(body)
        .map_err(|_| AuthError::arg(arg, "is not valid base64"))
}

/// Standard base64 with `=` padding.
pub fn encode_base64(bytes: &[u8]) -> String {
    STRICT.encode(bytes)
}

/// Percent-encodes everything but the RFC 3986 unreserved set, with upper-case hex: the same
/// output as Python's `urllib.parse.quote(s, safe='')`.
pub fn percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// Decodes `%XX` escapes. `+` stays `+`: OneNET never encodes a space as `+`, and a `+` in a
/// token's `sign` that was not escaped is a base64 `+`.
///
/// Returns `None` on a broken escape or a result that is not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_base64_accepts_what_python_accepts() {
        // Non-canonical trailing bits (the LuatOS key): Python decodes it to these 11 bytes.
        let key = decode_base64_lenient("k", "adfasdfadsfadsf=").unwrap();
        assert_eq!(super::super::hex_lower(&key), "69d7dab1d7da76c7da76c7");
        // Missing padding and surrounding white space.
        assert_eq!(decode_base64_lenient("k", " aGk\n").unwrap(), b"hi");
        assert_eq!(decode_base64_lenient("k", "aGk=").unwrap(), b"hi");
        // Excess padding, as Python ignores it.
        assert_eq!(decode_base64_lenient("k", "aGk====").unwrap(), b"hi");
    }

    #[test]
    fn lenient_base64_rejects_garbage_without_echoing_it() {
        for bad in ["", "===", "a", "ab$d", "ab=d", "aGk=x", "abcde"] {
            let err = decode_base64_lenient("access_key", bad).unwrap_err();
            let msg = err.to_string();
            assert!(msg.starts_with("access_key: "), "{msg}");
            if bad.len() > 2 {
                assert!(!msg.contains(bad), "{msg}");
            }
        }
    }

    #[test]
    fn percent_encoding_matches_python_quote_safe_empty() {
        assert_eq!(
            percent_encode("products/469948/devices/Chic_D"),
            "products%2F469948%2Fdevices%2FChic_D"
        );
        assert_eq!(percent_encode("a+b=c d~-._"), "a%2Bb%3Dc%20d~-._");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_decode("a%2Bb%3Dc%20d").as_deref(), Some("a+b=c d"));
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
