//! Huawei Cloud IoTDA MQTT credentials.
//!
//! ```text
//! client id = device_id + "_0_" + sign_type + "_" + YYYYMMDDHH
//! user name = device_id
//! password  = hex(HMAC_SHA256(key = YYYYMMDDHH, message = secret))
//! ```

use super::{hex_lower, non_empty, AuthError, AuthResult, Credentials, Digest};

/// Signs Huawei IoTDA credentials. `timestamp` is the UTC hour as ten digits, `YYYYMMDDHH`;
/// `sign_type` 0 leaves the timestamp unchecked by the platform, 1 checks it.
pub fn huawei(
    device_id: &str,
    secret: &str,
    timestamp: &str,
    sign_type: u8,
) -> AuthResult<Credentials> {
    non_empty("device_id", device_id)?;
    non_empty("secret", secret)?;
    if timestamp.len() != 10 || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthError::arg(
            "timestamp",
            "must be ten digits, YYYYMMDDHH (UTC)",
        ));
    }
    if sign_type > 1 {
        return Err(AuthError::arg("sign_type", "must be 0 or 1"));
    }
    // The key is the timestamp and the message the secret: the documented example only
    // reproduces this way round.
    let password = hex_lower(&Digest::Sha256.hmac(timestamp.as_bytes(), secret.as_bytes()));
    Ok(Credentials {
        client_id: format!("{device_id}_0_{sign_type}_{timestamp}"),
        username: device_id.to_owned(),
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documentation_vector() {
        let c = huawei("pid_node", "12345678", "2025041401", 0).unwrap();
        assert_eq!(
            c.password,
            "c75150e6cb841417396819e4d2ee4358a416344a03a083e3a8567074ddec820a"
        );
        assert_eq!(c.client_id, "pid_node_0_0_2025041401");
        assert_eq!(c.username, "pid_node");
    }

    #[test]
    fn bad_arguments() {
        for ts in ["202504140", "2025041401x", "20250414 1", ""] {
            assert!(matches!(
                huawei("d", "s", ts, 0),
                Err(AuthError::InvalidArgument {
                    arg: "timestamp",
                    ..
                })
            ));
        }
        assert!(matches!(
            huawei("d", "s", "2025041401", 2),
            Err(AuthError::InvalidArgument {
                arg: "sign_type",
                ..
            })
        ));
    }
}
