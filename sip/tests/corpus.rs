//! The SIP torture tests of RFC 4475 and RFC 5118 (../shared/corpora), each message
//! through datagram parsing, and the stream rules on the Content-Length cases.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use greffier_sip::message::{Message, Method, ParseError, ParseErrorKind, StartLine, StreamFramer};

fn corpora() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpora")).to_path_buf()
}

struct Case {
    corpus: &'static str,
    name: String,
    valid: bool,
    bytes: Vec<u8>,
}

/// Every message named in a corpus index, checking the index and the folders agree.
fn cases(corpus: &'static str) -> Vec<Case> {
    let dir = corpora().join(corpus);
    let index = fs::read_to_string(dir.join("index.tsv")).expect("corpus index readable");
    let mut cases = Vec::new();
    for line in index.lines().skip(1).filter(|line| !line.trim().is_empty()) {
        let mut columns = line.split('\t');
        let name = columns.next().expect("name column").to_string();
        let expectation = columns.next().expect("expectation column");
        let valid = match expectation {
            "valid" => true,
            "invalid" => false,
            other => panic!("unknown expectation {other} for {name}"),
        };
        let path = dir.join(expectation).join(format!("{name}.sip"));
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        cases.push(Case {
            corpus,
            name,
            valid,
            bytes,
        });
    }
    for folder in ["valid", "invalid"] {
        let listed: BTreeSet<String> = cases
            .iter()
            .filter(|case| case.valid == (folder == "valid"))
            .map(|case| format!("{}.sip", case.name))
            .collect();
        let present: BTreeSet<String> = fs::read_dir(dir.join(folder))
            .expect("corpus folder readable")
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(listed, present, "{corpus}/{folder} and its index disagree");
    }
    cases
}

fn all_cases() -> Vec<Case> {
    let mut all = cases("rfc4475");
    all.extend(cases("rfc5118"));
    assert_eq!(all.len(), 49 + 12);
    all
}

fn case(name: &str) -> Case {
    all_cases()
        .into_iter()
        .find(|case| case.name == name)
        .unwrap_or_else(|| panic!("no corpus message {name}"))
}

/// Expected Via count, CSeq number, From tag and To tag of each valid message,
/// read off the RFC texts.
/// (name, Via values, CSeq number, From tag, To tag)
type KeyHeaders = (
    &'static str,
    usize,
    u32,
    Option<&'static str>,
    Option<&'static str>,
);

const VALID: &[KeyHeaders] = &[
    ("bcast", 2, 35, Some("11141343"), Some("2229")),
    ("bext01", 1, 8, Some("242etr"), None),
    ("cparam01", 1, 2, Some("DkfVgjkrtMwaerKKpe"), None),
    ("cparam02", 1, 3, Some("838293"), None),
    ("dblreq", 1, 8, Some("43251j3j324"), None),
    ("esc01", 1, 234234, Some("938"), None),
    ("esc02", 1, 29344, Some("f232jadfj23"), None),
    ("escnull", 1, 14398234, Some("839923423"), None),
    ("intmeth", 1, 139122385, Some("_token~1'+`*%!-."), None),
    ("inv2543", 1, 56, None, None),
    ("invut", 1, 235448, Some("8392034"), None),
    ("longreq", 34, 3882340, Some(LONGREQ_TAG), None),
    ("lwsdisp", 1, 60, Some("323"), None),
    ("mpart01", 1, 1, Some("2fb0dcc9"), None),
    ("noreason", 1, 35, Some("39ansfi3"), Some("902jndnke3")),
    ("novelsc", 1, 3923423, Some("384"), None),
    ("regaut01", 1, 9338, Some("87321hj23128"), None),
    ("regescrt", 1, 14398234, Some("8"), None),
    ("sdp01", 1, 8, Some("234"), None),
    ("semiuri", 1, 8, Some("33242"), None),
    ("transports", 5, 60, Some("323"), None),
    ("unkscm", 1, 3923423, Some("384"), None),
    ("unksm2", 1, 234902, Some("3234233"), None),
    ("unreason", 1, 35, Some("11141343"), Some("2229")),
    ("wsinv", 3, 9, Some("98asjd8"), Some("1918181833n")),
    ("zeromf", 1, 39234321, Some("3ghsd41"), None),
    ("ipv4-mapped-ipv6", 2, 612, Some("81x2"), None),
    ("ipv6-correct-abnf-2-colons", 1, 689, Some("810x2"), None),
    ("ipv6-good", 1, 98176, Some("81x2"), None),
    ("ipv6-in-sdp", 1, 8612, Some("81x2"), None),
    (
        "mult-ip-in-header",
        3,
        89187,
        Some("81x2"),
        Some("9817--94"),
    ),
    ("mult-ip-in-sdp", 1, 8912, Some("81x2"), None),
    ("port-ambiguous", 1, 98176, Some("81x2"), None),
    ("port-unambiguous", 1, 98176, Some("81x2"), None),
    ("via-received-param-no-delim", 1, 921, Some("81x2"), None),
    (
        "via-received-param-with-delim",
        1,
        321,
        Some("81x2"),
        Some("bd76ya"),
    ),
];

const LONGREQ_TAG: &str = "12982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982424";

/// Messages the index lists as invalid that parse, where RFC 4475 allows either.
const ACCEPTED_INVALID: [&str; 1] = [
    // §3.1.2.12: "may reject if Date matters; otherwise ignore". Nothing here reads
    // Date, and PBXs write local time zones; the proxy forwards it unchanged.
    "baddate",
];

/// Why each other invalid message is refused.
const INVALID: &[(&str, ParseErrorKind)] = &[
    ("badaspec", ParseErrorKind::InvalidHeader),
    ("badbranch", ParseErrorKind::InvalidHeader),
    ("baddn", ParseErrorKind::InvalidHeader),
    ("badinv01", ParseErrorKind::InvalidHeader),
    ("badvers", ParseErrorKind::UnsupportedVersion),
    ("bigcode", ParseErrorKind::BadStatusCode),
    ("clerr", ParseErrorKind::BadContentLength),
    ("escruri", ParseErrorKind::BadRequestUri),
    ("insuf", ParseErrorKind::MissingHeader),
    ("ltgtruri", ParseErrorKind::BadRequestUri),
    ("lwsruri", ParseErrorKind::Malformed),
    ("lwsstart", ParseErrorKind::Malformed),
    ("mcl01", ParseErrorKind::BadContentLength),
    ("mismatch01", ParseErrorKind::MethodMismatch),
    ("mismatch02", ParseErrorKind::MethodMismatch),
    ("multi01", ParseErrorKind::DuplicateHeader),
    ("ncl", ParseErrorKind::BadContentLength),
    ("quotbal", ParseErrorKind::InvalidHeader),
    ("regbadct", ParseErrorKind::InvalidHeader),
    ("scalar02", ParseErrorKind::InvalidHeader),
    ("scalarlg", ParseErrorKind::InvalidHeader),
    ("trws", ParseErrorKind::Malformed),
    ("ipv6-bad", ParseErrorKind::BadRequestUri),
    ("ipv6-bug-abnf-3-colons", ParseErrorKind::BadRequestUri),
];

/// The Call-ID line of the raw text, found without the parser.
fn raw_call_id(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    text.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("call-id") || name.eq_ignore_ascii_case("i"))
            .then(|| value.trim().to_string())
    })
}

/// RFC 5118 messages whose Content-Length counts LF line ends while the file has
/// CRLF (see the corpus SOURCE.txt), with the bytes beyond it as measured: about one
/// per body line (9 lines each), give or take one where the RFC text was off.
const SHORT_CONTENT_LENGTH: [(&str, usize); 3] = [
    ("ipv4-mapped-ipv6", 9),
    ("ipv6-in-sdp", 10),
    ("mult-ip-in-sdp", 8),
];

fn has_short_content_length(name: &str) -> bool {
    SHORT_CONTENT_LENGTH.iter().any(|(short, _)| *short == name)
}

#[test]
fn every_valid_message_parses_with_its_key_headers_typed() {
    let all = all_cases();
    let valid: Vec<&Case> = all.iter().filter(|case| case.valid).collect();
    assert_eq!(valid.len(), VALID.len());
    for case in valid {
        let name = case.name.as_str();
        let message = Message::parse_datagram(&case.bytes)
            .unwrap_or_else(|e| panic!("{}/{name} refused: {e}", case.corpus));
        let &(_, vias, seq, from_tag, to_tag) = VALID
            .iter()
            .find(|expected| expected.0 == name)
            .unwrap_or_else(|| panic!("no expectation for {name}"));
        assert_eq!(message.vias().len(), vias, "{name}: Via values");
        assert!(message.top_via().is_some(), "{name}: top Via");
        assert_eq!(
            message.call_id(),
            raw_call_id(&case.bytes).as_deref(),
            "{name}: Call-ID"
        );
        let cseq = message.cseq().unwrap_or_else(|| panic!("{name}: CSeq"));
        assert_eq!(cseq.seq, seq, "{name}: CSeq number");
        if let Some(method) = message.method() {
            assert_eq!(&cseq.method, method, "{name}: CSeq method");
        }
        assert_eq!(message.from_tag(), from_tag, "{name}: From tag");
        assert_eq!(message.to_tag(), to_tag, "{name}: To tag");
    }
}

#[test]
fn every_invalid_message_is_refused_for_its_reason() {
    let all = all_cases();
    let invalid: Vec<&Case> = all.iter().filter(|case| !case.valid).collect();
    assert_eq!(invalid.len(), INVALID.len() + ACCEPTED_INVALID.len());
    for case in invalid {
        if ACCEPTED_INVALID.contains(&case.name.as_str()) {
            let parsed = Message::parse_datagram(&case.bytes);
            assert!(parsed.is_ok(), "{}: {parsed:?}", case.name);
            continue;
        }
        let name = case.name.as_str();
        let error = Message::parse_datagram(&case.bytes)
            .err()
            .unwrap_or_else(|| panic!("{}/{name} accepted", case.corpus));
        let &(_, kind) = INVALID
            .iter()
            .find(|expected| expected.0 == name)
            .unwrap_or_else(|| panic!("no expectation for {name}"));
        assert_eq!(error.kind(), kind, "{name}: {error}");
        assert_no_personal_data(&error, &case.bytes);
    }
}

/// The error text must not repeat the message's values (numbers, URIs, names).
fn assert_no_personal_data(error: &ParseError, bytes: &[u8]) {
    let text = error.to_string();
    let longest_digit_run = text
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(longest_digit_run < 3, "number in {text:?}");
    assert!(
        !text.contains('@') && !text.contains("sip:"),
        "address in {text:?}"
    );
    if let Some(call_id) = raw_call_id(bytes) {
        assert!(!text.contains(&call_id), "Call-ID in {text:?}");
    }
}

#[test]
fn refused_requests_get_an_answer_when_they_can() {
    let answers = |name: &str| {
        Message::parse_datagram(&case(name).bytes)
            .unwrap_err()
            .reply()
    };
    // The answer copies the SIP/7.0 Via verbatim, so it is read as text here.
    let badvers = String::from_utf8(answers("badvers").expect("badvers is answerable")).unwrap();
    assert!(badvers.starts_with("SIP/2.0 505 Version Not Supported\r\n"));
    assert!(badvers.contains("\r\nVia: SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\r\n"));
    assert!(badvers.contains("\r\nCall-ID: badvers.31417@c.example.com\r\n"));
    assert!(badvers.contains("\r\nTo: T. Watson <sip:t.watson@example.org>;tag="));
    assert!(badvers.ends_with("\r\nContent-Length: 0\r\n\r\n"));

    // Answers copy Via, From, To, Call-ID and CSeq verbatim, faults included.
    for name in [
        "badbranch",
        "badinv01",
        "escruri",
        "mismatch01",
        "multi01",
        "ncl",
        "scalar02",
        "clerr",
        "quotbal",
    ] {
        let bytes = answers(name).unwrap_or_else(|| panic!("{name} unanswered"));
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with("SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/"),
            "{name}"
        );
        let call_id = raw_call_id(&case(name).bytes).unwrap();
        assert!(
            text.contains(&format!("\r\nCall-ID: {call_id}\r\n")),
            "{name}"
        );
        let to_line = text.lines().find(|line| line.starts_with("To: ")).unwrap();
        assert_eq!(to_line.matches(";tag=").count(), 1, "{name}");
        assert!(text.ends_with("\r\nContent-Length: 0\r\n\r\n"), "{name}");
    }
    let answer = answers("mismatch01").unwrap();
    let reply =
        Message::parse_datagram(&answer).expect("a well-formed request gets a well-formed answer");
    assert_eq!(reply.status_code(), Some(400));
    assert_eq!(
        reply
            .top_via()
            .and_then(|via| via.branch().map(str::to_string))
            .as_deref(),
        Some("z9hG4bKkdjuw")
    );
    assert!(reply.to_tag().is_some());
    // Missing From/To/Call-ID leave nothing to answer with; responses are never answered.
    for name in ["insuf", "bigcode", "scalarlg"] {
        assert!(answers(name).is_none(), "{name} answered");
    }
}

#[test]
fn trailing_octets_of_a_datagram_are_ignored() {
    let dblreq = case("dblreq");
    let message = Message::parse_datagram(&dblreq.bytes).unwrap();
    assert_eq!(message.method(), Some(&Method::Register));
    assert!(message.body.is_empty());
    let forwarded = message.to_bytes();
    assert!(!String::from_utf8_lossy(&forwarded).contains("INVITE"));
}

#[test]
fn zero_max_forwards_parses() {
    let message = Message::parse_datagram(&case("zeromf").bytes).unwrap();
    assert_eq!(message.max_forwards(), Some(0));
}

#[test]
fn rfc2543_request_without_content_length_takes_the_rest_of_the_datagram() {
    let message = Message::parse_datagram(&case("inv2543").bytes).unwrap();
    assert_eq!(message.max_forwards(), None);
    assert!(message.body.starts_with(b"v=0"));
    assert_eq!(message.body.len(), 105);
}

#[test]
fn content_length_errors_per_transport() {
    for name in ["ncl", "clerr"] {
        let error = Message::parse_datagram(&case(name).bytes).unwrap_err();
        assert_eq!(
            error.kind(),
            ParseErrorKind::BadContentLength,
            "{name} over UDP"
        );
    }
    let mut framer = StreamFramer::new();
    framer.push(&case("ncl").bytes);
    let error = framer.next_message().unwrap().unwrap_err();
    assert_eq!(error.kind(), ParseErrorKind::BadContentLength);
    assert!(error.is_connection_error(), "ncl closes the connection");
    assert!(framer.next_message().is_none());

    // Over a stream a Content-Length larger than what arrived means "wait".
    let clerr = case("clerr");
    let mut framer = StreamFramer::new();
    framer.push(&clerr.bytes);
    assert!(framer.next_message().is_none());
    assert_eq!(framer.buffered(), clerr.bytes.len());
    assert!(!framer.is_failed());

    let mut framer = StreamFramer::new();
    framer.push(&case("mcl01").bytes);
    assert!(framer
        .next_message()
        .unwrap()
        .unwrap_err()
        .is_connection_error());

    let mut framer = StreamFramer::new();
    framer.push(&case("inv2543").bytes);
    let error = framer.next_message().unwrap().unwrap_err();
    assert_eq!(error.kind(), ParseErrorKind::BadContentLength);
    assert!(error.is_connection_error(), "no Content-Length on a stream");
}

#[test]
fn short_content_length_of_the_rfc5118_transcriptions() {
    for (name, excess) in SHORT_CONTENT_LENGTH {
        let bytes = case(name).bytes;
        let message = Message::parse_datagram(&bytes).unwrap();
        let declared: usize = message
            .headers
            .get(&greffier_sip::message::HeaderName::ContentLength)
            .and_then(|value| value.parse().ok())
            .expect("declared Content-Length");
        assert_eq!(message.body.len(), declared, "{name}");
        let body_start = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let whole_body = &bytes[body_start..];
        let body_lines = whole_body.iter().filter(|&&b| b == b'\n').count();
        assert_eq!(body_lines, 9, "{name}");
        assert_eq!(whole_body.len(), declared + excess, "{name}");
        assert!(message.body.starts_with(b"v=0"));
    }
}

#[test]
fn baddn_is_refused_for_its_display_name_with_or_without_final_line() {
    let variant = fs::read(corpora().join("rfc4475/variants/baddn.sipsorcery-no-final-crlf.sip"))
        .expect("variant readable");
    for bytes in [variant, case("baddn").bytes] {
        let error = Message::parse_datagram(&bytes).unwrap_err();
        assert_eq!(error.kind(), ParseErrorKind::InvalidHeader);
    }
}

#[test]
fn valid_messages_survive_serialisation() {
    for case in all_cases().iter().filter(|case| case.valid) {
        let message = Message::parse_datagram(&case.bytes).unwrap();
        let again = Message::parse_datagram(&message.to_bytes())
            .unwrap_or_else(|e| panic!("{} after to_bytes: {e}", case.name));
        assert_eq!(again.start, message.start, "{}", case.name);
        assert_eq!(again.body, message.body, "{}", case.name);
        let without_length = |m: &Message| {
            m.headers
                .iter()
                .filter(|h| h.name != greffier_sip::message::HeaderName::ContentLength)
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(
            without_length(&again),
            without_length(&message),
            "{}",
            case.name
        );
    }
}

#[test]
fn a_stream_of_valid_messages_frames_like_datagrams() {
    // Messages whose Content-Length is present and exact; the others are covered above.
    let framable: Vec<Case> = all_cases()
        .into_iter()
        .filter(|case| case.valid)
        .filter(|case| !["dblreq", "inv2543"].contains(&case.name.as_str()))
        .filter(|case| !has_short_content_length(&case.name))
        .collect();
    let mut stream = Vec::new();
    for case in &framable {
        stream.extend_from_slice(&case.bytes);
        stream.extend_from_slice(b"\r\n\r\n");
    }
    let mut framer = StreamFramer::new();
    let mut framed = Vec::new();
    for chunk in stream.chunks(97) {
        framer.push(chunk);
        while let Some(result) = framer.next_message() {
            framed.push(result.unwrap());
        }
    }
    assert_eq!(framed.len(), framable.len());
    for (message, case) in framed.iter().zip(&framable) {
        assert_eq!(
            message,
            &Message::parse_datagram(&case.bytes).unwrap(),
            "{}",
            case.name
        );
    }
    let responses = framed
        .iter()
        .filter(|m| matches!(m.start, StartLine::Response(_)))
        .count();
    assert_eq!(responses, 3);
}
