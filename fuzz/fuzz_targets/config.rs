//! `user_config.yml` and the web config file on any text: an error naming
//! the place, or a config, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = pulsewatch::config::Config::from_yaml_str(text, "fuzz.yml") {
        assert!(error.to_string().contains("fuzz.yml"), "{error}");
    }
    let path = std::path::Path::new("/fuzz/web.yml");
    if let Err(error) = pulsewatch::serve::web::config::parse(text, path) {
        assert!(error.to_string().contains("/fuzz/web.yml"), "{error}");
    }
});
