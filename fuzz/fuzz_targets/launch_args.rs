#![no_main]
//! See `exo_setup_core::fuzzing::launch_args`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| exo_setup_core::fuzzing::launch_args(data));
