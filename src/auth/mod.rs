//! IoT cloud credential signing: pure functions, no pyo3 and no clock inside.
//!
//! Every value a clock or a random source would fill (expiry, timestamps, connection ids) is an
//! argument here; the Python layer (`turbomqtt.auth`) supplies the defaults. That keeps every
//! function reproducible and testable against the published vectors in `spec/iot_auth.md`.
//!
//! Secrets (keys, device secrets, PSKs) never appear in an error message: errors name the
//! argument and the problem, never the value.

mod aliyun;
mod baidu;
mod encoding;
mod huawei;
mod onenet;
mod tencent;

pub use aliyun::{aliyun, AliyunSignMethod};
pub use baidu::{baidu, BaiduAlgorithm};
pub use encoding::{decode_base64_lenient, percent_decode, percent_encode};
pub use huawei::huawei;
pub use onenet::{
    onenet_credentials, onenet_res, onenet_token, parse_onenet_token, verify_onenet_token,
    OneNetToken, DEFAULT_VERSION as ONENET_DEFAULT_VERSION,
};
pub use tencent::{tencent, TencentSignMethod};

use hmac::{Hmac, Mac};
use std::fmt;

/// Why a credential could not be made or a token did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// An argument is empty, out of range or of the wrong form. `arg` is the Python name.
    #[error("{arg}: {reason}")]
    InvalidArgument {
        /// The argument's name as the Python API spells it.
        arg: &'static str,
        /// What is wrong with it (never the value itself when it is a secret).
        reason: String,
    },
    /// A token string lacks a field or has one that cannot be read.
    #[error("malformed token: {field}: {reason}")]
    TokenMalformed {
        /// The token field (`version`, `res`, `et`, `method`, `sign`) or `token`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The token's signature does not match the key.
    #[error(
        "signature mismatch: the token was not signed with this access key \
         (or one of version, res, et, method was changed after signing)"
    )]
    TokenSignatureMismatch,
    /// The token's `et` lies in the past.
    #[error("token expired: et={et} is {ago} s before now={now}")]
    TokenExpired {
        /// The token's expiry, Unix seconds.
        et: u64,
        /// The time it was checked against, Unix seconds.
        now: u64,
        /// `now - et`.
        ago: u64,
    },
}

impl AuthError {
    pub(crate) fn arg(arg: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            arg,
            reason: reason.into(),
        }
    }
}

/// The result type of this module.
pub type AuthResult<T> = Result<T, AuthError>;

/// The digests the platforms sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    /// MD5 (RFC 1321).
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl Digest {
    /// Lower-case name, as OneNET writes it in a token.
    pub fn name(self) -> &'static str {
        match self {
            Digest::Md5 => "md5",
            Digest::Sha1 => "sha1",
            Digest::Sha256 => "sha256",
        }
    }

    /// `HMAC_<digest>(key, message)`.
    pub fn hmac(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
            // HMAC accepts keys of any length, so `new_from_slice` has no failing case; the
            // `Err` arm exists only to avoid a panic path.
            match <M as hmac::digest::KeyInit>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(message);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        }
        match self {
            Digest::Md5 => run::<Hmac<md5::Md5>>(key, message),
            Digest::Sha1 => run::<Hmac<sha1::Sha1>>(key, message),
            Digest::Sha256 => run::<Hmac<sha2::Sha256>>(key, message),
        }
    }

    /// A plain (keyless) digest of `message`.
    pub fn hash(self, message: &[u8]) -> Vec<u8> {
        use sha2::Digest as _;
        match self {
            Digest::Md5 => md5::Md5::digest(message).to_vec(),
            Digest::Sha1 => sha1::Sha1::digest(message).to_vec(),
            Digest::Sha256 => sha2::Sha256::digest(message).to_vec(),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Lower-case hexadecimal.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Rejects an empty string argument.
pub(crate) fn non_empty(arg: &'static str, value: &str) -> AuthResult<()> {
    if value.is_empty() {
        Err(AuthError::arg(arg, "must not be empty"))
    } else {
        Ok(())
    }
}

/// The three strings an MQTT CONNECT needs.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The MQTT client identifier.
    pub client_id: String,
    /// The MQTT user name.
    pub username: String,
    /// The MQTT password (a secret).
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex_lower(&[0x00, 0xab, 0x7f, 0xff]), "00ab7fff");
    }

    #[test]
    fn hmac_matches_rfc2202_and_rfc4231() {
        // RFC 2202 test case 2 (HMAC-MD5 and HMAC-SHA1), RFC 4231 test case 2 (HMAC-SHA256).
        let key = b"Jefe";
        let msg = b"what do ya want for nothing?";
        assert_eq!(
            hex_lower(&Digest::Md5.hmac(key, msg)),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        assert_eq!(
            hex_lower(&Digest::Sha1.hmac(key, msg)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex_lower(&Digest::Sha256.hmac(key, msg)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn plain_hashes() {
        assert_eq!(
            hex_lower(&Digest::Md5.hash(b"")),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            hex_lower(&Digest::Sha256.hash(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn credentials_debug_hides_password() {
        let c = Credentials {
            client_id: "c".into(),
            username: "u".into(),
            password: "secret-token".into(),
        };
        assert!(!format!("{c:?}").contains("secret-token"));
    }
}
