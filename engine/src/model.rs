//! The Whisper model in CTranslate2 format, in process, on a thread of its
//! own: inference is blocking and CPU-bound, so requests queue for that
//! thread (one at a time, each using the configured number of threads) and
//! the async server stays responsive.

use std::path::Path;
use std::sync::mpsc;

use anyhow::Context;
use ct2rs::sys::{ComputeType, Config};
use ct2rs::{Whisper, WhisperOptions};
use tokio::sync::oneshot;

use crate::segments::{sentences, Sentence, TimedWord};

/// One channel's transcription.
#[derive(Debug)]
pub struct Transcription {
    pub segments: Vec<Sentence>,
}

struct Job {
    samples: Vec<f32>,
    language: Option<String>,
    reply: oneshot::Sender<anyhow::Result<Transcription>>,
}

/// A handle on the model's thread.
#[derive(Clone)]
pub struct Model {
    jobs: mpsc::SyncSender<Job>,
    /// The rate the model's samples must have.
    pub sampling_rate: u32,
    /// The model directory's name, reported as the `model` of responses.
    pub name: String,
}

impl Model {
    /// Loads the model from `dir` (model.bin, config.json, tokenizer.json,
    /// preprocessor_config.json), int8 on the CPU with `threads` threads,
    /// and starts its thread; at most `queue` requests wait for it.
    pub fn start(dir: &Path, threads: usize, queue: usize) -> anyhow::Result<Self> {
        let config = Config {
            compute_type: ComputeType::INT8,
            num_threads_per_replica: threads,
            ..Config::default()
        };
        let name = dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "whisper".to_owned());
        let dir = dir.to_owned();
        let (jobs, receiver) = mpsc::sync_channel::<Job>(queue);
        let (loaded, outcome) = mpsc::channel::<anyhow::Result<u32>>();
        // The model is created on the thread that uses it, so it never has
        // to move between threads.
        std::thread::Builder::new()
            .name("whisper".into())
            .spawn(move || {
                let whisper = match Whisper::new(&dir, config) {
                    Ok(whisper) => whisper,
                    Err(error) => {
                        let _ = loaded.send(Err(error
                            .context(format!("loading the Whisper model in {}", dir.display()))));
                        return;
                    }
                };
                let rate = u32::try_from(whisper.sampling_rate()).unwrap_or(16_000);
                let _ = loaded.send(Ok(rate));
                for job in receiver {
                    let result = transcribe(&whisper, &job.samples, job.language.as_deref());
                    // The requester may have gone (timeout): nothing to do.
                    let _ = job.reply.send(result);
                }
            })
            .context("starting the model's thread")?;
        let sampling_rate = outcome
            .recv()
            .context("the model's thread stopped while loading")??;
        Ok(Model {
            jobs,
            sampling_rate,
            name,
        })
    }

    /// Transcribes mono samples in [-1, 1] at [`Model::sampling_rate`].
    /// Fails at once when the queue is full, rather than piling up.
    pub async fn transcribe(
        &self,
        samples: Vec<f32>,
        language: Option<String>,
    ) -> Result<Transcription, Busy> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .try_send(Job {
                samples,
                language,
                reply,
            })
            .map_err(|_| Busy::Queue)?;
        match answer.await {
            Ok(Ok(transcription)) => Ok(transcription),
            Ok(Err(error)) => Err(Busy::Failed(format!("{error:#}"))),
            Err(_) => Err(Busy::Failed("the model's thread stopped".into())),
        }
    }
}

/// Why no transcription came back.
#[derive(Debug)]
pub enum Busy {
    /// Too many requests waiting: the client retries later (503).
    Queue,
    Failed(String),
}

fn transcribe(
    whisper: &Whisper,
    samples: &[f32],
    language: Option<&str>,
) -> anyhow::Result<Transcription> {
    let options = WhisperOptions {
        beam_size: 1,
        ..WhisperOptions::default()
    };
    let chunks = whisper
        .generate_segments(samples, language, &options)
        .context("the model failed on this audio")?;
    let words: Vec<TimedWord> = chunks
        .iter()
        .flat_map(|chunk| chunk.words.iter().flatten())
        .map(|word| TimedWord {
            text: word.word.clone(),
            start: f64::from(word.start),
            end: f64::from(word.end),
        })
        .collect();
    Ok(Transcription {
        segments: sentences(&words),
    })
}
