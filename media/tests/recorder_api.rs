//! The recorder as its owner drives it: timers only, no packets, finish.

use greffier_media::{
    CodecMap, Leg, MemorySink, OutputFormat, Recorder, RecorderConfig, RecorderError, RtpFormat,
};
use greffier_test_support::audio::wav_channels;
use greffier_test_support::capture::finish_into;
use std::time::{Duration, Instant};

fn assert_send<T: Send>() {}

#[test]
fn recorder_can_move_to_another_task() {
    assert_send::<Recorder>();
}

#[test]
fn a_call_nobody_speaks_in_records_wall_time_as_silence() {
    let start = Instant::now();
    let codecs = CodecMap::from_formats(&[RtpFormat::new(0, "PCMU", 8000)]);
    let config = RecorderConfig::new(OutputFormat::Wav, codecs.clone(), codecs, start);
    let mut recorder = Recorder::new(config).unwrap();
    assert_eq!(recorder.sample_rate(), 8000);
    let mut sink = MemorySink::new();
    let end = start + Duration::from_secs(10);
    let mut wakes = 0;
    while let Some(wake) = recorder.poll_timeout().filter(|wake| *wake <= end) {
        recorder.handle_timeout(wake).unwrap();
        recorder.drain_into(&mut sink).unwrap();
        wakes += 1;
    }
    assert!(wakes >= 400, "{wakes} wake-ups for 10 s of 20 ms steps");
    // Before the end, the output trails `now` by the mix delay only.
    let streamed = sink.bytes().len() - 44;
    assert!(streamed >= (10.0 - 0.35) as usize * 8000 * 4);
    let summary = finish_into(&mut recorder, &mut sink, end);
    assert_eq!(summary.duration, Duration::from_secs(10));
    assert_eq!(summary.packets, 0);
    assert!(summary.codecs.is_empty());
    let (_, left, right) = wav_channels(sink.bytes());
    assert_eq!(left.len(), 80_000);
    assert!(left.iter().chain(&right).all(|&s| s == 0));
    assert!(matches!(
        recorder.handle_rtp(end, Leg::Caller, &[0x80; 20]),
        Err(RecorderError::Finished)
    ));
    assert!(matches!(recorder.finish(end), Err(RecorderError::Finished)));
    assert_eq!(recorder.poll_timeout(), None);
}
