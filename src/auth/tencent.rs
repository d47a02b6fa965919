//! Tencent Cloud IoT Hub / IoT Explorer MQTT credentials (key authentication).
//!
//! ```text
//! client id = product_id + device_name
//! user name = product_id + device_name + ";" + sdkappid + ";" + conn_id + ";" + expiry
//! password  = hex(HMAC_alg(base64decode(psk), user name)) + ";hmacsha1" | ";hmacsha256"
//! ```

use super::encoding::decode_base64_lenient;
use super::{hex_lower, non_empty, AuthError, AuthResult, Credentials, Digest};

/// Tencent's signature methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TencentSignMethod {
    /// `hmacsha1`
    HmacSha1,
    /// `hmacsha256`
    HmacSha256,
}

impl TencentSignMethod {
    /// Reads `hmacsha1` or `hmacsha256` in any case.
    pub fn parse(text: &str) -> AuthResult<Self> {
        match text.to_ascii_lowercase().as_str() {
            "hmacsha1" => Ok(Self::HmacSha1),
            "hmacsha256" => Ok(Self::HmacSha256),
            _ => Err(AuthError::arg(
                "sign_method",
                format!("must be hmacsha1 or hmacsha256, not {text:?}"),
            )),
        }
    }
}

/// Signs Tencent credentials. `expiry` is Unix seconds; `conn_id` is a short random string.
pub fn tencent(
    product_id: &str,
    device_name: &str,
    device_psk: &str,
    expiry: u64,
    conn_id: &str,
    sdkappid: &str,
    sign_method: TencentSignMethod,
) -> AuthResult<Credentials> {
    non_empty("product_id", product_id)?;
    non_empty("device_name", device_name)?;
    non_empty("conn_id", conn_id)?;
    non_empty("sdkappid", sdkappid)?;
    for (arg, value) in [("conn_id", conn_id), ("sdkappid", sdkappid)] {
        if value.contains(';') {
            return Err(AuthError::arg(arg, "must not contain ';'"));
        }
    }
    let key = decode_base64_lenient("device_psk", device_psk)?;
    let username = format!("{product_id}{device_name};{sdkappid};{conn_id};{expiry}");
    let (digest, suffix) = match sign_method {
        TencentSignMethod::HmacSha1 => (Digest::Sha1, "hmacsha1"),
        TencentSignMethod::HmacSha256 => (Digest::Sha256, "hmacsha256"),
    };
    let password = format!(
        "{};{suffix}",
        hex_lower(&digest.hmac(&key, username.as_bytes()))
    );
    Ok(Credentials {
        client_id: format!("{product_id}{device_name}"),
        username,
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_vector() {
        let c = tencent(
            "J5M4D6INI9",
            "pi_dht11",
            "u/nAbSmZKbCW7lugludvLg==",
            1_645_079_520,
            "13GB9",
            "12010126",
            TencentSignMethod::HmacSha256,
        )
        .unwrap();
        assert_eq!(c.client_id, "J5M4D6INI9pi_dht11");
        assert_eq!(c.username, "J5M4D6INI9pi_dht11;12010126;13GB9;1645079520");
        assert_eq!(
            c.password,
            "995566e2241a06391c30d9ac23de2706a0e9e59247830c556eb55ccfdee5f127;hmacsha256"
        );
    }

    #[test]
    fn bad_arguments() {
        let m = TencentSignMethod::HmacSha1;
        assert!(matches!(
            tencent("p", "d", "%%%", 1, "abcde", "1", m),
            Err(AuthError::InvalidArgument {
                arg: "device_psk",
                ..
            })
        ));
        assert!(matches!(
            tencent("p", "d", "aGk=", 1, "a;b", "1", m),
            Err(AuthError::InvalidArgument { arg: "conn_id", .. })
        ));
        assert!(TencentSignMethod::parse("md5").is_err());
        let c = tencent("p", "d", "aGk=", 1, "abcde", "1", m).unwrap();
        assert!(c.password.ends_with(";hmacsha1"));
        assert_eq!(c.password.len(), 40 + ";hmacsha1".len());
    }
}
