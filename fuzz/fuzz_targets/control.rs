//! libFuzzer target: [`wharf_fuzz::control`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wharf_fuzz::control(data));
