//! Credential signing exposed to Python. The public, documented API with its defaults (clock,
//! random connection ids) is `turbomqtt.auth`; these functions take every value explicitly.

use crate::auth::{
    self, AliyunSignMethod, BaiduAlgorithm, Credentials, OneNetToken, TencentSignMethod,
};
use crate::errors::Result;
use pyo3::prelude::*;

type Triple = (String, String, String);
type TokenTuple = (String, String, u64, String, String);

fn triple(c: Credentials) -> Triple {
    (c.client_id, c.username, c.password)
}

fn token_tuple(t: OneNetToken) -> TokenTuple {
    (t.version, t.res, t.et, t.method, t.sign)
}

/// Signs a OneNET token for `res`.
#[pyfunction]
pub fn onenet_token(
    res: &str,
    access_key: &str,
    et: u64,
    method: &str,
    version: &str,
) -> Result<String> {
    Ok(auth::onenet_token(res, access_key, et, method, version)?)
}

/// `(client_id, username, password)` for a OneNET device.
#[pyfunction]
pub fn onenet_credentials(
    product_id: &str,
    device_name: &str,
    access_key: &str,
    et: u64,
    method: &str,
    product_level: bool,
) -> Result<Triple> {
    Ok(triple(auth::onenet_credentials(
        product_id,
        device_name,
        access_key,
        et,
        method,
        product_level,
    )?))
}

/// `(version, res, et, method, sign)` of a token.
#[pyfunction]
pub fn parse_onenet_token(token: &str) -> Result<TokenTuple> {
    Ok(token_tuple(auth::parse_onenet_token(token)?))
}

/// Verifies a token against a key at time `now`; returns it parsed.
#[pyfunction]
pub fn verify_onenet_token(token: &str, access_key: &str, now: u64) -> Result<TokenTuple> {
    Ok(token_tuple(auth::verify_onenet_token(
        token, access_key, now,
    )?))
}

/// Aliyun credentials.
#[pyfunction]
pub fn aliyun(
    product_key: &str,
    device_name: &str,
    device_secret: &str,
    client_id: &str,
    timestamp_ms: u64,
    sign_method: &str,
    secure_mode: u8,
) -> Result<Triple> {
    let method = AliyunSignMethod::parse(sign_method)?;
    Ok(triple(auth::aliyun(
        product_key,
        device_name,
        device_secret,
        client_id,
        timestamp_ms,
        method,
        secure_mode,
    )?))
}

/// Huawei IoTDA credentials.
#[pyfunction]
pub fn huawei(device_id: &str, secret: &str, timestamp: &str, sign_type: u8) -> Result<Triple> {
    Ok(triple(auth::huawei(
        device_id, secret, timestamp, sign_type,
    )?))
}

/// Tencent credentials.
#[pyfunction]
pub fn tencent(
    product_id: &str,
    device_name: &str,
    device_psk: &str,
    expiry: u64,
    conn_id: &str,
    sdkappid: &str,
    sign_method: &str,
) -> Result<Triple> {
    let method = TencentSignMethod::parse(sign_method)?;
    Ok(triple(auth::tencent(
        product_id,
        device_name,
        device_psk,
        expiry,
        conn_id,
        sdkappid,
        method,
    )?))
}

/// Baidu credentials.
#[pyfunction]
pub fn baidu(
    iot_core_id: &str,
    device_key: &str,
    device_secret: &str,
    timestamp: u64,
    algorithm: &str,
    client_id: &str,
) -> Result<Triple> {
    let algorithm = BaiduAlgorithm::parse(algorithm)?;
    Ok(triple(auth::baidu(
        iot_core_id,
        device_key,
        device_secret,
        timestamp,
        algorithm,
        client_id,
    )?))
}
