//! Alibaba Cloud IoT Platform (Link Platform) MQTT credentials.
//!
//! ```text
//! client id = cid + "|securemode=" + mode + ",signmethod=" + method + ",timestamp=" + ts + "|"
//! user name = device_name + "&" + product_key
//! password  = hex(HMAC_method(device_secret, "clientId"+cid + "deviceName"+dn + "productKey"+pk + "timestamp"+ts))
//! ```

use super::{hex_lower, non_empty, AuthError, AuthResult, Credentials, Digest};

/// Aliyun's `signmethod` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliyunSignMethod {
    /// `hmacmd5`
    HmacMd5,
    /// `hmacsha1`
    HmacSha1,
    /// `hmacsha256`
    HmacSha256,
}

impl AliyunSignMethod {
    /// Reads `hmacmd5`, `hmacsha1` or `hmacsha256` in any case.
    pub fn parse(text: &str) -> AuthResult<Self> {
        match text.to_ascii_lowercase().as_str() {
            "hmacmd5" => Ok(Self::HmacMd5),
            "hmacsha1" => Ok(Self::HmacSha1),
            "hmacsha256" => Ok(Self::HmacSha256),
            _ => Err(AuthError::arg(
                "sign_method",
                format!("must be hmacmd5, hmacsha1 or hmacsha256, not {text:?}"),
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::HmacMd5 => "hmacmd5",
            Self::HmacSha1 => "hmacsha1",
            Self::HmacSha256 => "hmacsha256",
        }
    }

    fn digest(self) -> Digest {
        match self {
            Self::HmacMd5 => Digest::Md5,
            Self::HmacSha1 => Digest::Sha1,
            Self::HmacSha256 => Digest::Sha256,
        }
    }
}

/// Signs Aliyun credentials. `client_id` is the user-chosen id (often `{pk}.{dn}`);
/// `timestamp_ms` is Unix milliseconds; `secure_mode` is 2 (TLS) or 3 (TCP).
pub fn aliyun(
    product_key: &str,
    device_name: &str,
    device_secret: &str,
    client_id: &str,
    timestamp_ms: u64,
    sign_method: AliyunSignMethod,
    secure_mode: u8,
) -> AuthResult<Credentials> {
    non_empty("product_key", product_key)?;
    non_empty("device_name", device_name)?;
    non_empty("device_secret", device_secret)?;
    non_empty("client_id", client_id)?;
    if client_id.contains(['|', ',']) {
        return Err(AuthError::arg("client_id", "must not contain '|' or ','"));
    }
    if !matches!(secure_mode, 2 | 3) {
        return Err(AuthError::arg("secure_mode", "must be 2 (TLS) or 3 (TCP)"));
    }
    let content = format!(
        "clientId{client_id}deviceName{device_name}productKey{product_key}timestamp{timestamp_ms}"
    );
    let password = hex_lower(
        &sign_method
            .digest()
            .hmac(device_secret.as_bytes(), content.as_bytes()),
    );
    Ok(Credentials {
        client_id: format!(
            "{client_id}|securemode={secure_mode},signmethod={},timestamp={timestamp_ms}|",
            sign_method.name()
        ),
        username: format!("{device_name}&{product_key}"),
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documentation_vector() {
        // help.aliyun.com document 73742: clientId=12345, deviceName=device, productKey=pk,
        // timestamp=789, secret=secret, hmacsha1.
        let c = aliyun(
            "pk",
            "device",
            "secret",
            "12345",
            789,
            AliyunSignMethod::HmacSha1,
            3,
        )
        .unwrap();
        assert_eq!(c.password, "fafd82a3d602b37fb0fa8b7892f24a477f851a14");
        assert_eq!(
            c.client_id,
            "12345|securemode=3,signmethod=hmacsha1,timestamp=789|"
        );
        assert_eq!(c.username, "device&pk");
    }

    #[test]
    fn bad_arguments() {
        assert_eq!(
            AliyunSignMethod::parse("HMACSHA256").unwrap(),
            AliyunSignMethod::HmacSha256
        );
        assert!(AliyunSignMethod::parse("sha256").is_err());
        let m = AliyunSignMethod::HmacSha256;
        assert!(matches!(
            aliyun("pk", "d", "s", "c", 1, m, 1),
            Err(AuthError::InvalidArgument {
                arg: "secure_mode",
                ..
            })
        ));
        assert!(matches!(
            aliyun("pk", "d", "", "c", 1, m, 3),
            Err(AuthError::InvalidArgument {
                arg: "device_secret",
                ..
            })
        ));
        assert!(matches!(
            aliyun("pk", "d", "s", "a|b", 1, m, 3),
            Err(AuthError::InvalidArgument {
                arg: "client_id",
                ..
            })
        ));
    }
}
