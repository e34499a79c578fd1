//! Feeds arbitrary bytes to the capture reader, then to the SIP message split,
//! the TCP reassembly and the RTP stream finder. None may panic.

#![no_main]

use greffier_capture::{Capture, RtpHeader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(capture) = Capture::parse(data) {
        let _ = capture.tcp_streams();
        let _ = capture.sip_messages();
        for stream in capture.rtp_streams() {
            let _ = (stream.ptime(), stream.duration(), stream.telephone_events());
        }
    }
    let _ = RtpHeader::parse(data);
});
