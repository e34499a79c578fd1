//! A minimal HTTP/1.0 GET and POST over a plain TCP stream: enough to use the
//! admin endpoint without pulling an HTTP client into the tests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) body: String,
}

/// HTTP/1.0 keeps the server from answering in chunks: the body runs to the
/// end of the connection.
pub(crate) fn get(addr: SocketAddr, path: &str) -> Result<HttpResponse, String> {
    exchange(addr, "GET", path)
}

/// A POST without a body.
pub(crate) fn post(addr: SocketAddr, path: &str) -> Result<HttpResponse, String> {
    exchange(addr, "POST", path)
}

/// A request without a body, with extra header lines (`Name: value`).
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[String],
) -> Result<HttpResponse, String> {
    exchange_with(addr, method, path, headers)
}

/// A request with a JSON body, with extra header lines (`Name: value`).
pub(crate) fn request_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[String],
    body: &str,
) -> Result<HttpResponse, String> {
    let mut headers = headers.to_vec();
    headers.push("Content-Type: application/json".to_string());
    headers.push(format!("Content-Length: {}", body.len()));
    exchange_full(addr, method, path, &headers, body)
}

fn exchange(addr: SocketAddr, method: &str, path: &str) -> Result<HttpResponse, String> {
    exchange_with(addr, method, path, &[])
}

fn exchange_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[String],
) -> Result<HttpResponse, String> {
    let mut headers = headers.to_vec();
    if method == "POST" {
        headers.push("Content-Length: 0".to_string());
    }
    exchange_full(addr, method, path, &headers, "")
}

fn exchange_full(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[String],
    body: &str,
) -> Result<HttpResponse, String> {
    let fail = |what: &str, error: &dyn std::fmt::Display| {
        format!("{method} {path} from {addr}: {what}: {error}")
    };
    let mut stream =
        TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| fail("connect", &e))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| fail("read timeout", &e))?;
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| fail("write timeout", &e))?;
    let extra: String = headers.iter().map(|line| format!("{line}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{extra}\r\n{body}"
    )
    .map_err(|e| fail("send", &e))?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| fail("read", &e))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| fail("no end of headers", &format!("{text:?}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| fail("no status code", &format!("{head:?}")))?;
    Ok(HttpResponse {
        status,
        body: body.to_string(),
    })
}
