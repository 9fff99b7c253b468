//! A hash for names that must never change.

/// 64-bit FNV-1a. Mute rule names and filesystem labels must stay the same
/// across builds and Rust versions, which the standard library's hasher does
/// not promise.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    #[test]
    fn pinned() {
        // A change here renames every existing mute rule and hashed label.
        assert_eq!(super::fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(super::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }
}
