#![no_main]
//! See `exo_setup_core::fuzzing::mail_replies`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| exo_setup_core::fuzzing::mail_replies(data));
