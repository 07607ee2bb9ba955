//! Checks of command-line values that clap's types cannot express, run before any device is
//! opened or any simulation starts, each naming the flag it is about.
//!
//! The numeric flags that take seconds or probabilities accept negative-looking values for
//! parsing (`allow_negative_numbers`), so `--loss -0.1` reaches these checks and gets a
//! sentence about `--loss` rather than clap's "unexpected argument '-0'".

use std::path::Path;
use std::time::Duration;

/// Smallest MTU accepted when the stack speaks IPv4 only: 576, the datagram size every IPv4
/// host must accept (RFC 791; RFC 9293's default MSS of 536 is 576 minus 40 bytes of headers).
/// IPv4's absolute floor of 68 (RFC 791) would leave 8 bytes of payload per segment.
pub const MIN_MTU_IPV4: usize = 576;
/// Smallest MTU of a link that carries IPv6 (RFC 8200 §5); Linux refuses IPv6 addresses on a
/// device below it.
pub const MIN_MTU_IPV6: usize = 1280;
/// Largest MTU: an IP datagram's length is a 16-bit field.
pub const MAX_MTU: usize = 65_535;

/// A probability P with 0 ≤ P < 1 (1 would lose everything).
pub fn probability(flag: &str, p: f64) -> Result<f64, String> {
    if p.is_finite() && (0.0..1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!(
            "{flag} must be between 0 and 1 (at least 0, below 1), not {p}"
        ))
    }
}

/// A number of seconds, at least 0.
pub fn seconds(flag: &str, secs: f64) -> Result<Duration, String> {
    if secs.is_finite() && secs >= 0.0 {
        Duration::try_from_secs_f64(secs).map_err(|e| format!("{flag} {secs}: {e}"))
    } else {
        Err(format!(
            "{flag} must be a number of seconds, at least 0, not {secs}"
        ))
    }
}

/// A number of seconds above 0 (a timeout of nothing would fail every attempt).
pub fn positive_seconds(flag: &str, secs: f64) -> Result<Duration, String> {
    match seconds(flag, secs) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(format!(
            "{flag} must be a number of seconds above 0, not {secs}"
        )),
    }
}

/// The device's MTU, if given, against the minimum of the IP versions in use.
pub fn mtu(mtu: Option<usize>, ipv6: bool) -> Result<(), String> {
    let Some(mtu) = mtu else { return Ok(()) };
    if mtu > MAX_MTU {
        return Err(format!("--mtu {mtu}: at most {MAX_MTU}"));
    }
    if ipv6 && mtu < MIN_MTU_IPV6 {
        return Err(format!(
            "--mtu {mtu}: IPv6 needs an MTU of at least {MIN_MTU_IPV6} (RFC 8200 §5); use \
             --no-ipv6 for an IPv4-only device (at least {MIN_MTU_IPV4})"
        ));
    }
    if mtu < MIN_MTU_IPV4 {
        return Err(format!(
            "--mtu {mtu}: at least {MIN_MTU_IPV4} (every IPv4 host must accept 576-byte \
             datagrams, RFC 791)"
        ));
    }
    Ok(())
}

/// Create (truncate) the pcap file now, so a bad path is reported as the file's problem
/// before any device exists.
pub fn pcap_path(path: &Path) -> Result<(), String> {
    std::fs::File::create(path)
        .map(drop)
        .map_err(|e| format!("--pcap {}: {e}", path.display()))
}
