//! China Mobile OneNET tokens: the MQTT password of every token-based OneNET product line.
//!
//! ```text
//! sign  = base64(HMAC_<method>(base64decode(key), et + "\n" + method + "\n" + res + "\n" + version))
//! token = "version=" + version + "&res=" + pct(res) + "&et=" + et + "&method=" + method + "&sign=" + pct(sign)
//! ```

use super::encoding::{decode_base64_lenient, encode_base64, percent_decode, percent_encode};
use super::{non_empty, AuthError, AuthResult, Credentials, Digest};

/// The `version` every device login uses.
pub const DEFAULT_VERSION: &str = "2018-10-31";

/// Reads a OneNET `method` in any case.
fn digest(arg: &'static str, method: &str) -> AuthResult<Digest> {
    match method.to_ascii_lowercase().as_str() {
        "md5" => Ok(Digest::Md5),
        "sha1" => Ok(Digest::Sha1),
        "sha256" => Ok(Digest::Sha256),
        _ => Err(AuthError::arg(
            arg,
            format!("must be md5, sha1 or sha256, not {method:?}"),
        )),
    }
}

fn sign(key: &[u8], digest: Digest, method: &str, res: &str, et: u64, version: &str) -> String {
    let text = format!("{et}\n{method}\n{res}\n{version}");
    encode_base64(&digest.hmac(key, text.as_bytes()))
}

/// Signs a OneNET token for resource `res` (e.g. `products/{pid}/devices/{name}`).
///
/// `method` is md5, sha1 or sha256 in any case; it is signed and written in lower case.
pub fn onenet_token(
    res: &str,
    access_key: &str,
    et: u64,
    method: &str,
    version: &str,
) -> AuthResult<String> {
    non_empty("res", res)?;
    non_empty("version", version)?;
    let digest = digest("method", method)?;
    let key = decode_base64_lenient("access_key", access_key)?;
    let method = digest.name();
    let sign = sign(&key, digest, method, res, et, version);
    Ok(format!(
        "version={version}&res={}&et={et}&method={method}&sign={}",
        percent_encode(res),
        percent_encode(&sign)
    ))
}

/// The resource string of a device (`product_level == false`) or of its product.
pub fn onenet_res(product_id: &str, device_name: &str, product_level: bool) -> AuthResult<String> {
    non_empty("product_id", product_id)?;
    non_empty("device_name", device_name)?;
    if product_id.contains('/') {
        return Err(AuthError::arg("product_id", "must not contain '/'"));
    }
    if device_name.contains('/') {
        return Err(AuthError::arg("device_name", "must not contain '/'"));
    }
    Ok(if product_level {
        format!("products/{product_id}")
    } else {
        format!("products/{product_id}/devices/{device_name}")
    })
}

/// Client id, user name and password for a OneNET device: client id = device name,
/// user name = product id, password = token.
pub fn onenet_credentials(
    product_id: &str,
    device_name: &str,
    access_key: &str,
    et: u64,
    method: &str,
    product_level: bool,
) -> AuthResult<Credentials> {
    let res = onenet_res(product_id, device_name, product_level)?;
    let password = onenet_token(&res, access_key, et, method, DEFAULT_VERSION)?;
    Ok(Credentials {
        client_id: device_name.to_owned(),
        username: product_id.to_owned(),
        password,
    })
}

/// A OneNET token taken apart, with `res` and `sign` percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneNetToken {
    /// The parameter-set version (`2018-10-31` for devices).
    pub version: String,
    /// The resource, decoded (`products/1/devices/d`).
    pub res: String,
    /// Expiry, Unix seconds.
    pub et: u64,
    /// The method exactly as written in the token.
    pub method: String,
    /// The base64 signature, decoded from its percent-encoding.
    pub sign: String,
}

fn malformed(field: &'static str, reason: impl Into<String>) -> AuthError {
    AuthError::TokenMalformed {
        field,
        reason: reason.into(),
    }
}

/// Parses a token string, accepting its fields in any order, and says which field is wrong.
pub fn parse_onenet_token(token: &str) -> AuthResult<OneNetToken> {
    const FIELDS: [&str; 5] = ["version", "res", "et", "method", "sign"];
    let token = token.trim();
    if token.is_empty() {
        return Err(malformed("token", "is empty"));
    }
    let mut values: [Option<String>; 5] = Default::default();
    // The messages say where, never what: a part that is not a known field may be a secret
    // (an access key passed as the token by mistake), and the error text ends up in logs.
    for (n, part) in token.split('&').enumerate() {
        let Some((name, raw)) = part.split_once('=') else {
            return Err(malformed(
                "token",
                format!("part {} is not a key=value pair", n + 1),
            ));
        };
        let Some(index) = FIELDS.iter().position(|f| *f == name) else {
            return Err(malformed(
                "token",
                format!(
                    "part {} is no field of a token (expected version, res, et, method, sign)",
                    n + 1
                ),
            ));
        };
        let field = FIELDS[index];
        if values[index].is_some() {
            return Err(malformed(field, "appears twice"));
        }
        let value = percent_decode(raw).ok_or_else(|| malformed(field, "bad percent-encoding"))?;
        if value.is_empty() {
            return Err(malformed(field, "is empty"));
        }
        values[index] = Some(value);
    }
    let mut take = |i: usize| {
        values[i]
            .take()
            .ok_or_else(|| malformed(FIELDS[i], "is missing"))
    };
    let version = take(0)?;
    let res = take(1)?;
    let et_text = take(2)?;
    let method = take(3)?;
    let sign = take(4)?;
    let et = et_text
        .parse::<u64>()
        .ok()
        .filter(|_| et_text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| malformed("et", format!("{et_text:?} is not a Unix time in seconds")))?;
    if digest("method", &method).is_err() {
        return Err(malformed(
            "method",
            format!("{method:?} is not md5, sha1 or sha256"),
        ));
    }
    if decode_base64_lenient("sign", &sign).is_err() {
        return Err(malformed("sign", "is not base64"));
    }
    Ok(OneNetToken {
        version,
        res,
        et,
        method,
        sign,
    })
}

/// Checks a token against an access key and a time: the answer to "why is my password refused".
///
/// The signature is checked first (a wrong key or an edited field), then the expiry.
pub fn verify_onenet_token(token: &str, access_key: &str, now: u64) -> AuthResult<OneNetToken> {
    let parsed = parse_onenet_token(token)?;
    let key = decode_base64_lenient("access_key", access_key)?;
    let digest = digest("method", &parsed.method)?;
    // The platform signs the method exactly as it appears in the token.
    let expected = sign(
        &key,
        digest,
        &parsed.method,
        &parsed.res,
        parsed.et,
        &parsed.version,
    );
    if !constant_time_eq(expected.as_bytes(), parsed.sign.as_bytes()) {
        return Err(AuthError::TokenSignatureMismatch);
    }
    if parsed.et < now {
        return Err(AuthError::TokenExpired {
            et: parsed.et,
            now,
            ago: now - parsed.et,
        });
    }
    Ok(parsed)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "rs2FaE5BuygJZkWKDA5okKt1RFpwOx53hbu6hwyCS4U=";
    const TOKEN: &str = "version=2018-10-31&res=products%2F469948%2Fdevices%2FChic_D&et=1673053248&method=sha1&sign=prIMDQ23WFI6PMj2IWpaRJJL4eE%3D";

    #[test]
    fn reference_vector_from_the_users_documents() {
        let t = onenet_token(
            "products/469948/devices/Chic_D",
            KEY,
            1_673_053_248,
            "sha1",
            "2018-10-31",
        )
        .unwrap();
        assert_eq!(t, TOKEN);
        let c = onenet_credentials("469948", "Chic_D", KEY, 1_673_053_248, "SHA1", false).unwrap();
        assert_eq!(c.client_id, "Chic_D");
        assert_eq!(c.username, "469948");
        assert_eq!(c.password, TOKEN);
    }

    /// A key passed where the token goes (arguments swapped) must not come back in the error
    /// text, which ends up in logs: neither as a part without `=` nor as an unknown field name
    /// (a padded base64 key contains `=`).
    #[test]
    fn malformed_token_errors_do_not_echo_the_token() {
        let unpadded = KEY.trim_end_matches('=');
        for bad in [KEY, unpadded, &format!("{TOKEN}&{unpadded}")] {
            let err = verify_onenet_token(bad, KEY, 0).unwrap_err().to_string();
            assert!(err.starts_with("malformed token: token: part "), "{err}");
            assert!(!err.contains(unpadded), "{err}");
        }
    }

    #[test]
    fn method_is_signed_and_written_lower_case() {
        let upper = onenet_token("products/1", KEY, 10, "SHA256", "2018-10-31").unwrap();
        let lower = onenet_token("products/1", KEY, 10, "sha256", "2018-10-31").unwrap();
        assert_eq!(upper, lower);
        assert!(upper.contains("&method=sha256&"));
        for m in ["md5", "sha1", "sha256"] {
            let t = onenet_token("products/1", KEY, 10, m, "2018-10-31").unwrap();
            assert_eq!(verify_onenet_token(&t, KEY, 0).unwrap().method, m);
        }
    }

    #[test]
    fn et_is_64_bit() {
        let t = onenet_token("products/1", KEY, 32_472_115_200, "md5", "2018-10-31").unwrap();
        assert!(t.contains("&et=32472115200&"));
        assert_eq!(parse_onenet_token(&t).unwrap().et, 32_472_115_200);
    }

    #[test]
    fn product_level_res() {
        assert_eq!(onenet_res("469948", "d", true).unwrap(), "products/469948");
        assert!(matches!(
            onenet_res("", "d", false),
            Err(AuthError::InvalidArgument {
                arg: "product_id",
                ..
            })
        ));
        assert!(matches!(
            onenet_res("1", "", true),
            Err(AuthError::InvalidArgument {
                arg: "device_name",
                ..
            })
        ));
    }

    #[test]
    fn bad_arguments_name_the_argument() {
        let e = onenet_token("products/1", KEY, 1, "sha512", "2018-10-31").unwrap_err();
        assert!(matches!(
            e,
            AuthError::InvalidArgument { arg: "method", .. }
        ));
        let e = onenet_token("products/1", "not base64!", 1, "sha1", "2018-10-31").unwrap_err();
        assert!(matches!(
            e,
            AuthError::InvalidArgument {
                arg: "access_key",
                ..
            }
        ));
        assert!(!e.to_string().contains("not base64!"));
        let e = onenet_token("", KEY, 1, "sha1", "2018-10-31").unwrap_err();
        assert!(matches!(e, AuthError::InvalidArgument { arg: "res", .. }));
    }

    #[test]
    fn verify_reports_expiry_mismatch_and_malformed_fields() {
        assert_eq!(
            verify_onenet_token(TOKEN, KEY, 1_673_053_248).unwrap().et,
            1_673_053_248
        );
        assert_eq!(
            verify_onenet_token(TOKEN, KEY, 1_673_053_300).unwrap_err(),
            AuthError::TokenExpired {
                et: 1_673_053_248,
                now: 1_673_053_300,
                ago: 52
            }
        );
        let other = "kKsubaG7FzMgzR6N3eUD53319Qu+K4MCvw6KzOYc5eI=";
        assert_eq!(
            verify_onenet_token(TOKEN, other, 0).unwrap_err(),
            AuthError::TokenSignatureMismatch
        );
        let edited = TOKEN.replace("et=1673053248", "et=1673053249");
        assert_eq!(
            verify_onenet_token(&edited, KEY, 0).unwrap_err(),
            AuthError::TokenSignatureMismatch
        );
        for (token, field) in [
            (
                TOKEN.replace("&sign=prIMDQ23WFI6PMj2IWpaRJJL4eE%3D", ""),
                "sign",
            ),
            (TOKEN.replace("et=1673053248", "et=-5"), "et"),
            (TOKEN.replace("et=1673053248", "et=+5"), "et"),
            (TOKEN.replace("method=sha1", "method=sha3"), "method"),
            (TOKEN.replace("res=products", "res=%zzproducts"), "res"),
            (TOKEN.replace("version=2018-10-31", "version="), "version"),
            (format!("{TOKEN}&et=1"), "et"),
            (format!("{TOKEN}&foo=1"), "token"),
            ("garbage".to_string(), "token"),
            (String::new(), "token"),
        ] {
            match verify_onenet_token(&token, KEY, 0) {
                Err(AuthError::TokenMalformed { field: f, .. }) => assert_eq!(f, field, "{token}"),
                other => panic!("{token}: {other:?}"),
            }
        }
    }

    #[test]
    fn parse_accepts_fields_in_any_order() {
        let shuffled = "sign=prIMDQ23WFI6PMj2IWpaRJJL4eE%3D&method=sha1&et=1673053248&res=products%2F469948%2Fdevices%2FChic_D&version=2018-10-31";
        let t = parse_onenet_token(shuffled).unwrap();
        assert_eq!(t.res, "products/469948/devices/Chic_D");
        assert_eq!(t.sign, "prIMDQ23WFI6PMj2IWpaRJJL4eE=");
        assert!(verify_onenet_token(shuffled, KEY, 0).is_ok());
    }
}
