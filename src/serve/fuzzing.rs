//! The entry of the HTTP fuzz target (`fuzz/fuzz_targets/http.rs`): raw
//! bytes in as one client connection to the real server code (hyper's
//! parser, the limits, the routes over a synthetic snapshot), the bytes it
//! answered out. The client closes its side after the request, so a
//! half-sent head ends at once (end of input), not at the head timeout.

use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::web;

thread_local! {
    static RUNTIME: Option<(tokio::runtime::Runtime, Arc<web::server::ServerContext>)> =
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .ok()
            .zip(super::bench::synthetic_context(30).ok());
}

/// What the server answers to `request` sent on one connection, closed
/// after it. `/metrics/test` is left out (it judges a day of data: seconds
/// per run; its only input, the seed, is a number parsed by the standard
/// library).
pub fn answer(request: &[u8]) -> Vec<u8> {
    if request.windows(13).any(|w| w == b"/metrics/test") {
        return Vec::new();
    }
    RUNTIME.with(|runtime| {
        let Some((runtime, context)) = runtime else {
            return Vec::new();
        };
        runtime.block_on(async {
            let (mut client, server) = tokio::io::duplex(1 << 20);
            let graceful = hyper_util::server::graceful::GracefulShutdown::new();
            let serving = tokio::spawn(web::server::serve_connection(
                server,
                Arc::clone(context),
                graceful.watcher(),
            ));
            let _ = client.write_all(request).await;
            let _ = client.shutdown().await;
            let mut answer = Vec::new();
            let _ = client.read_to_end(&mut answer).await;
            let _ = serving.await;
            answer
        })
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_request_gets_an_answer_and_garbage_a_400() {
        let answer = super::answer(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
        assert!(text.ends_with("ok\n"), "{text}");
        let answer = super::answer(b"\x00\x01 nonsense\r\n\r\n");
        assert!(
            String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 400"),
            "{answer:?}"
        );
        // Half a head, then the client's end: no answer but an error.
        let answer = super::answer(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ");
        assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    }
}
