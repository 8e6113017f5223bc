#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mxconf_fuzz::import_automx(data));
