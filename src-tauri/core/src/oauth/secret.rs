//! The token wrapper: [`crate::keychain::Secret`] (Debug/Display print `<redacted>`, not
//! `Serialize`, zeroized on drop, value only through `expose`). Re-exported so the OAuth API reads
//! `oauth::Secret` and the keychain stores exactly what the OAuth client returns.

pub use crate::keychain::Secret;
