//! libFuzzer target: [`wharf_fuzz::manifest`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wharf_fuzz::manifest(data));
