//! libFuzzer target: [`wharf_fuzz::request`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wharf_fuzz::request(data));
