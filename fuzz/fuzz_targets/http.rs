//! Raw bytes as one client connection to the daemon's HTTP server (hyper's
//! parser, the limits, the routes): an answer that is HTTP/1.x or none,
//! never a panic; and the basic-auth header parser on the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let answer = pulsewatch::serve::fuzzing::answer(data);
    assert!(answer.is_empty() || answer.starts_with(b"HTTP/1."));
    let _ = pulsewatch::serve::web::auth::credentials(&String::from_utf8_lossy(data));
});
