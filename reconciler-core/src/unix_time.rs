//! Time as the core receives it: seconds since the Unix epoch.

use std::fmt;

/// Seconds since the Unix epoch. The core never reads the clock: callers pass
/// times in, so every decision is reproducible in a test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct UnixTime(pub i64);

/// RFC 3339 in UTC (`2026-11-29T18:02:11Z`): what people read in reports and errors.
impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        match time::OffsetDateTime::from_unix_timestamp(self.0).ok().and_then(|t| t.format(&format).ok()) {
            Some(text) => f.write_str(&text),
            None => write!(f, "@{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_display_as_rfc3339() {
        assert_eq!(UnixTime(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(UnixTime(1_795_168_800).to_string(), "2026-11-20T10:00:00Z");
        assert_eq!(UnixTime(i64::MAX).to_string(), format!("@{}", i64::MAX));
    }
}
