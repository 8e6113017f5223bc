#![no_main]

/// The development root, which signed the corpus's valid profiles.
const CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs/root.pem");

libfuzzer_sys::fuzz_target!(|data: &[u8]| mxconf_fuzz::verify_der(data, std::path::Path::new(CA)));
