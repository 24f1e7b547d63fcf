//! hyper's HTTP/1.1 server on tokio, with the limits a daemon on a shared
//! network needs: keep-alive; the request head read within
//! [`HEAD_READ_TIMEOUT`] (an idle keep-alive connection or a client that
//! sends half a request is closed then) and capped at [`MAX_HEAD_BYTES`];
//! a response the client stops reading dropped after [`WRITE_STALL`]; at
//! most [`MAX_CONNECTIONS`] at once. An idle connection costs a small task,
//! not a thread, so hundreds of them leave scrapes unharmed. Routes that
//! take long and bcrypt checks run on the blocking pool, each kind behind
//! its own small limit, so neither can hold up `/metrics` or `/healthz`.
//! On stop, the listener closes and requests in flight finish (up to
//! [`DRAIN`]).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderName, HeaderValue, VARY,
    WWW_AUTHENTICATE,
};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Semaphore;

use super::routes::{self, Reply};
use super::{Web, WebConfigFile};
use crate::config::Config;
use crate::serve::Shared;

/// Connections open at once; one more is closed as soon as it is accepted.
pub const MAX_CONNECTIONS: usize = 4096;
/// The time a client has to send a request's head, counted from the
/// moment the server waits for one (so also a keep-alive connection's
/// idle time).
pub const HEAD_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A request head larger than this is answered 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;
/// A TLS handshake not done by then is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A response the client has not taken a byte of for this long is dropped.
pub const WRITE_STALL: Duration = Duration::from_secs(30);
/// How long requests in flight get to finish after a stop.
pub const DRAIN: Duration = Duration::from_secs(5);
/// Slow routes (a training request, `/metrics/test`) at once.
const SLOW_AT_ONCE: usize = 4;
/// bcrypt checks at once (each takes tens of milliseconds of CPU).
const CHECKS_AT_ONCE: usize = 2;

/// What every connection shares.
pub struct ServerContext {
    pub shared: Arc<Shared>,
    pub config: Arc<Config>,
    pub web: Arc<WebConfigFile>,
    slow: Semaphore,
    checks: Semaphore,
}

impl ServerContext {
    pub fn new(shared: Arc<Shared>, config: Arc<Config>, web: Arc<WebConfigFile>) -> Self {
        Self {
            shared,
            config,
            web,
            slow: Semaphore::new(SLOW_AT_ONCE),
            checks: Semaphore::new(CHECKS_AT_ONCE),
        }
    }
}

/// Accepts connections until `stop` is set or a stop signal arrives, then
/// lets requests in flight finish.
pub async fn run(
    listener: tokio::net::TcpListener,
    context: Arc<ServerContext>,
    stop: Arc<AtomicBool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut ticker = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _peer)) = accepted else {
                    // Out of file descriptors, most likely: let some close.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let context = Arc::clone(&context);
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let _permit = permit;
                    let web = context.web.current();
                    match &web.tls {
                        Some(tls) => {
                            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(tls));
                            if let Ok(Ok(stream)) =
                                tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                            {
                                serve_connection(stream, context, watcher).await;
                            }
                        }
                        None => serve_connection(tcp, context, watcher).await,
                    }
                });
            }
            _ = ticker.tick() => {
                if stop.load(Ordering::Relaxed) || crate::serve::signals::stop_requested() {
                    break;
                }
            }
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => {}
    }
}

pub(in crate::serve) async fn serve_connection<T>(
    io: T,
    context: Arc<ServerContext>,
    watcher: hyper_util::server::graceful::Watcher,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let context = Arc::clone(&context);
        async move { Ok::<_, Infallible>(answer(request, context).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES.max(8192))
        .max_header_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS)
        .keep_alive(true)
        // A client that closes its sending side after the request still
        // gets the answer.
        .half_close(true)
        .serve_connection(TokioIo::new(StallGuard::new(io, WRITE_STALL)), service);
    // A client gone or too slow ends its own connection only.
    let _ = watcher.watch(connection).await;
}

/// Answers one request: the auth check, then the route.
async fn answer(request: Request<Incoming>, context: Arc<ServerContext>) -> Response<Full<Bytes>> {
    let web = context.web.current();
    if let Some(auth) = &web.auth {
        let credentials = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(super::auth::credentials);
        let allowed = match credentials {
            None => false,
            Some(credentials) if auth.remembers(&credentials) => true,
            Some(credentials) => {
                let Ok(_turn) = context.checks.acquire().await else {
                    return response(&web, Reply::error(503, "the server is stopping"));
                };
                let checking = Arc::clone(&web);
                tokio::task::spawn_blocking(move || {
                    checking
                        .auth
                        .as_ref()
                        .is_some_and(|auth| auth.verify(credentials))
                })
                .await
                .unwrap_or(false)
            }
        };
        if !allowed {
            let mut denied = response(&web, Reply::error(401, "unauthorized"));
            denied.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"pulsewatch\""),
            );
            return denied;
        }
    }
    let accepts_gzip = request
        .headers()
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            parts
                .next()
                .is_some_and(|name| name.trim().eq_ignore_ascii_case("gzip"))
                && parts.all(|p| p.trim().replace(' ', "") != "q=0")
        });
    let method = request.method().as_str().to_owned();
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let reply = if routes::is_slow(&method, &path) {
        let Ok(_turn) = context.slow.acquire().await else {
            return response(&web, Reply::error(503, "the server is stopping"));
        };
        let routing = Arc::clone(&context);
        tokio::task::spawn_blocking(move || {
            routes::route(
                &method,
                &path,
                accepts_gzip,
                &routing.shared,
                &routing.config,
            )
        })
        .await
        .unwrap_or_else(|_| Reply::error(500, "the request's handler failed"))
    } else {
        routes::route(
            &method,
            &path,
            accepts_gzip,
            &context.shared,
            &context.config,
        )
    };
    response(&web, reply)
}

fn response(web: &Web, reply: Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    if reply.gzipped {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    for (name, value) in &web.spec.headers {
        // Checked when the file was read: one line, a known name.
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.insert(name, value);
        }
    }
    response
}

/// A connection whose writes fail once the client has taken nothing for
/// `limit`, so a client that stops reading cannot hold a connection (and
/// the response it was sent) forever.
struct StallGuard<T> {
    io: T,
    limit: Duration,
    stalled_since: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> StallGuard<T> {
    fn new(io: T, limit: Duration) -> Self {
        Self {
            io,
            limit,
            stalled_since: None,
        }
    }

    /// Passes `poll`'s answer on; a pending one arms (or checks) the timer.
    fn watch<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<std::io::Result<R>>,
    ) -> Poll<std::io::Result<R>> {
        match poll {
            Poll::Ready(result) => {
                self.stalled_since = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let limit = self.limit;
                let timer = self
                    .stalled_since
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                if timer.as_mut().poll(cx).is_ready() {
                    Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client stopped reading",
                    )))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallGuard<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallGuard<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_flush(cx);
        this.watch(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
