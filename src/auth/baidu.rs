//! Baidu IoT Core (天工) MQTT credentials.
//!
//! ```text
//! user name = "thingidp@" + iot_core_id + "|" + device_key + "|" + timestamp + "|" + ALG
//! password  = hex(ALG(device_key + "&" + timestamp + "&" + ALG + device_secret))   (a plain hash)
//! ```

use super::{hex_lower, non_empty, AuthError, AuthResult, Credentials, Digest};

/// Baidu's `algorithm_type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaiduAlgorithm {
    /// `MD5`
    Md5,
    /// `SHA256`
    Sha256,
}

impl BaiduAlgorithm {
    /// Reads `MD5` or `SHA256` in any case.
    pub fn parse(text: &str) -> AuthResult<Self> {
        match text.to_ascii_uppercase().as_str() {
            "MD5" => Ok(Self::Md5),
            "SHA256" => Ok(Self::Sha256),
            _ => Err(AuthError::arg(
                "algorithm",
                format!("must be MD5 or SHA256, not {text:?}"),
            )),
        }
    }
}

/// Signs Baidu credentials; `timestamp` is Unix seconds, `client_id` any unique id.
pub fn baidu(
    iot_core_id: &str,
    device_key: &str,
    device_secret: &str,
    timestamp: u64,
    algorithm: BaiduAlgorithm,
    client_id: &str,
) -> AuthResult<Credentials> {
    non_empty("iot_core_id", iot_core_id)?;
    non_empty("device_key", device_key)?;
    non_empty("device_secret", device_secret)?;
    non_empty("client_id", client_id)?;
    for (arg, value) in [("iot_core_id", iot_core_id), ("device_key", device_key)] {
        if value.contains('|') {
            return Err(AuthError::arg(arg, "must not contain '|'"));
        }
    }
    let (digest, name) = match algorithm {
        BaiduAlgorithm::Md5 => (Digest::Md5, "MD5"),
        BaiduAlgorithm::Sha256 => (Digest::Sha256, "SHA256"),
    };
    let text = format!("{device_key}&{timestamp}&{name}{device_secret}");
    Ok(Credentials {
        client_id: client_id.to_owned(),
        username: format!("thingidp@{iot_core_id}|{device_key}|{timestamp}|{name}"),
        password: hex_lower(&digest.hash(text.as_bytes())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documentation_vector() {
        let c = baidu(
            "abcd123",
            "mydevice",
            "ImSeCrEt0I1M2jkl",
            1_583_826_857,
            BaiduAlgorithm::Md5,
            "mydevice",
        )
        .unwrap();
        assert_eq!(c.username, "thingidp@abcd123|mydevice|1583826857|MD5");
        assert_eq!(c.password, "7f0e63d2c6e122100edde19e34e7df5b");
    }

    #[test]
    fn sha256_and_bad_arguments() {
        let c = baidu(
            "a",
            "k",
            "s",
            0,
            BaiduAlgorithm::parse("sha256").unwrap(),
            "c",
        )
        .unwrap();
        assert_eq!(c.password.len(), 64);
        assert!(c.username.ends_with("|0|SHA256"));
        assert!(BaiduAlgorithm::parse("sha1").is_err());
        assert!(matches!(
            baidu("a|b", "k", "s", 0, BaiduAlgorithm::Md5, "c"),
            Err(AuthError::InvalidArgument {
                arg: "iot_core_id",
                ..
            })
        ));
    }
}
