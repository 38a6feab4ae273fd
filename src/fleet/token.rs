//! Bearer tokens: random, shown once, stored only as a SHA-256 hash. The prefix tells a shim token from an API
//! token, so a token presented to the wrong service is refused with a reason instead of a lookup miss.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Shim tokens (ShimService only).
pub const SHIM_PREFIX: &str = "dpt_";
/// API tokens (FleetService only).
pub const API_PREFIX: &str = "dpa_";

/// A new token: the prefix and 32 random bytes in hex.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// What the store keeps of a token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_unique_and_hashes_stable() {
        let (a, b) = (super::generate(super::SHIM_PREFIX), super::generate(super::SHIM_PREFIX));
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 64);
        assert!(a.starts_with("dpt_") && super::generate(super::API_PREFIX).starts_with("dpa_"));
        assert_eq!(super::hash(&a), super::hash(&a));
        assert_ne!(super::hash(&a), super::hash(&b));
    }
}
