//! The emulator's clock: real time plus an offset that tests advance, so that code expiry (10 min), refresh-token
//! grace and the 90-day inactivity expiry can be tested in milliseconds. Tokens carry emulated timestamps.

use chrono::{DateTime, Duration, Utc};

/// Real time shifted by a test-controlled offset.
#[derive(Debug, Default, Clone)]
pub struct Clock {
    offset: Duration,
}

impl Clock {
    /// Current emulated time.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }

    /// Moves the clock forward (never backward).
    pub fn advance(&mut self, by: std::time::Duration) {
        self.offset += Duration::from_std(by).unwrap_or(Duration::zero());
    }

    /// Seconds the clock has been advanced.
    pub fn offset_secs(&self) -> i64 {
        self.offset.num_seconds()
    }
}
