#![no_main]
//! See `exo_setup_core::fuzzing::decoders`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| exo_setup_core::fuzzing::decoders(data));
