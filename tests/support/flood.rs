//! A flood as a scanner or a reflection attack with a spoofed source sends it:
//! padded INVITEs to a tenant's number, keep-alives to the gateway and
//! registrations, from one UDP socket, a window at a time so that every
//! response can be accounted for.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// Bytes of filler per request: each request is about 1.3 kB.
pub(crate) const PADDING: usize = 1_000;
/// Requests in flight at once: the attacker reads the answers of a window
/// before it sends the next, so that no datagram is lost to a full socket
/// buffer (each queued datagram costs the kernel far more than its bytes).
pub(crate) const WINDOW: usize = 50;

/// Request `n` of a flood from `from` to `gateway`.
pub(crate) fn request(n: usize, gateway: SocketAddr, from: SocketAddr) -> String {
    let (method, uri) = match n % 3 {
        0 => ("INVITE", format!("sip:+33199000001@{gateway}")),
        1 => ("OPTIONS", format!("sip:{gateway}")),
        _ => ("REGISTER", format!("sip:{gateway}")),
    };
    format!(
        "{method} {uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-flood-{n}\r\n\
         From: <sip:flood@{from}>;tag=f{n}\r\n\
         To: <sip:+33199000001@{gateway}>\r\n\
         Call-ID: flood-{n}\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:flood@{from}>\r\n\
         Max-Forwards: 70\r\n\
         X-Padding: {}\r\n\
         Content-Length: 0\r\n\r\n",
        "a".repeat(PADDING)
    )
}

/// The Call-ID and status of a response.
pub(crate) fn parse_response(bytes: &[u8]) -> (String, u16) {
    let text = String::from_utf8_lossy(bytes);
    let status = text
        .strip_prefix("SIP/2.0 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not a response: {text}"));
    let call_id = text
        .lines()
        .find_map(|line| line.strip_prefix("Call-ID: "))
        .unwrap_or_else(|| panic!("no Call-ID: {text}"))
        .to_string();
    (call_id, status)
}

/// The statuses each request (by Call-ID) got.
pub(crate) type Answers = HashMap<String, Vec<u16>>;

/// Sends requests `first..first + count` from `socket` in windows, reading the
/// window's responses (each within `bound`) before the next; records them in
/// `answers`.
pub(crate) fn send_windows(
    socket: &UdpSocket,
    gateway: SocketAddr,
    first: usize,
    count: usize,
    bound: Duration,
    answers: &mut Answers,
) -> std::io::Result<()> {
    socket.set_read_timeout(Some(bound))?;
    let from = socket.local_addr()?;
    let mut buffer = vec![0u8; 65_536];
    let end = first + count;
    let mut next = first;
    while next < end {
        let window = WINDOW.min(end - next);
        for n in next..next + window {
            socket.send_to(request(n, gateway, from).as_bytes(), gateway)?;
        }
        next += window;
        for _ in 0..window {
            let (len, _) = socket.recv_from(&mut buffer)?;
            let (call_id, status) = parse_response(&buffer[..len]);
            answers.entry(call_id).or_default().push(status);
        }
    }
    Ok(())
}

/// Reads what is already queued on `socket` without waiting.
pub(crate) fn drain(socket: &UdpSocket, answers: &mut Answers) -> std::io::Result<()> {
    socket.set_nonblocking(true)?;
    let mut buffer = vec![0u8; 65_536];
    while let Ok((len, _)) = socket.recv_from(&mut buffer) {
        let (call_id, status) = parse_response(&buffer[..len]);
        answers.entry(call_id).or_default().push(status);
    }
    socket.set_nonblocking(false)
}
