//! A queue in front of an encoder, so that concurrent callers share forward passes instead of
//! fighting for the cores (as text-embeddings-inference does).
//!
//! Callers enqueue their texts and block; one worker thread takes every job waiting, up to a
//! token budget, as one group, encodes the group in one call (the encoder sorts all its texts
//! by length and fills its batches across callers), and hands each caller its embeddings. Jobs
//! are taken in arrival order, so none is overtaken indefinitely.
//!
//! The wait is bounded: the queue measures its own throughput (tokens a second) and refuses a
//! job at once, with [`EngineError::Busy`], when the work ahead of it would take longer than
//! [`QueueSettings::max_wait`]. A job arriving at an idle queue is always taken, however large.
//! Tokens are estimated from characters (one per three, plus the special tokens): the estimate
//! only sizes groups and waits, it never truncates anything.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Encoder, EngineError};

#[derive(Debug, Clone, Copy)]
pub struct QueueSettings {
    /// Estimated tokens per group: large enough to fill the encoder's batches with several
    /// callers' texts, small enough that the first caller in a group is not kept long.
    pub group_tokens: usize,
    /// Longest a job may wait for the work ahead of it; a job that would wait longer is refused.
    pub max_wait: Duration,
    /// Tokens a second assumed before the first group is measured.
    pub initial_tokens_per_second: f64,
}

impl Default for QueueSettings {
    fn default() -> QueueSettings {
        QueueSettings {
            group_tokens: 8_192,
            max_wait: Duration::from_secs(30),
            // What e5-small does on two cores with short texts (benches/RESULTS.md): the first
            // measurement replaces it.
            initial_tokens_per_second: 2_000.0,
        }
    }
}

type Reply = mpsc::SyncSender<Result<Vec<Vec<f32>>, EngineError>>;

struct Job {
    texts: Vec<String>,
    tokens: usize,
    reply: Reply,
}

struct State {
    jobs: VecDeque<Job>,
    /// Estimated tokens waiting, and in the group being encoded (since when).
    queued_tokens: usize,
    running_tokens: usize,
    running_since: Instant,
    /// Measured throughput, smoothed over groups.
    tokens_per_second: f64,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    settings: QueueSettings,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// An [`Encoder`] whose calls go through one shared queue (see the module documentation).
pub struct EncoderQueue {
    shared: Arc<Shared>,
    dimension: usize,
    worker: Option<JoinHandle<()>>,
}

impl EncoderQueue {
    pub fn new(encoder: Box<dyn Encoder>, settings: QueueSettings) -> std::io::Result<EncoderQueue> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                queued_tokens: 0,
                running_tokens: 0,
                running_since: Instant::now(),
                tokens_per_second: settings.initial_tokens_per_second,
                closed: false,
            }),
            work: Condvar::new(),
            settings,
        });
        let dimension = encoder.dimension();
        let worker_shared = shared.clone();
        let worker =
            std::thread::Builder::new().name("verbatim-encoder".into()).spawn(move || run(&worker_shared, &*encoder))?;
        Ok(EncoderQueue { shared, dimension, worker: Some(worker) })
    }
}

/// Tokens the encoder will likely see for `text`: about one per three characters, plus two
/// special tokens.
fn estimated_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(3) + 2
}

impl Encoder for EncoderQueue {
    fn dimension(&self) -> usize {
        self.dimension
    }

    fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EngineError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let tokens = texts.iter().map(|t| estimated_tokens(t)).sum();
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job { texts: texts.iter().map(|t| t.to_string()).collect(), tokens, reply };
        {
            let mut state = self.shared.lock();
            if state.closed {
                return Err(stopped());
            }
            // The running group is partly done: count only what is left of it.
            let done = state.running_since.elapsed().as_secs_f64() * state.tokens_per_second;
            let ahead = state.queued_tokens as f64 + (state.running_tokens as f64 - done).max(0.0);
            let wait = Duration::from_secs_f64(ahead / state.tokens_per_second);
            if ahead > 0.0 && wait > self.shared.settings.max_wait {
                return Err(EngineError::Busy { wait });
            }
            state.queued_tokens += tokens;
            state.jobs.push_back(job);
        }
        self.shared.work.notify_one();
        // A worker that stopped drops every reply it still holds: no caller waits forever.
        answer.recv().unwrap_or(Err(stopped()))
    }
}

impl Drop for EncoderQueue {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_one();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn stopped() -> EngineError {
    EngineError::Compute(candle_core::Error::Msg("the encoder queue stopped".into()))
}

/// Closes the queue when the worker leaves, however it leaves: the jobs still queued are
/// dropped (their callers get an error) and later callers are refused.
struct CloseOnExit<'s>(&'s Shared);

impl Drop for CloseOnExit<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.closed = true;
        state.jobs.clear();
        state.queued_tokens = 0;
        state.running_tokens = 0;
    }
}

/// The worker: takes groups in arrival order and encodes each in one call. A panic in the
/// encoder fails its group only; the worker goes on with the next.
fn run(shared: &Shared, encoder: &dyn Encoder) {
    let _close = CloseOnExit(shared);
    loop {
        let group: Vec<Job> = {
            let mut state = shared.lock();
            while state.jobs.is_empty() && !state.closed {
                state = shared.work.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if state.jobs.is_empty() {
                return; // Closed and drained.
            }
            let mut group = Vec::new();
            let mut tokens = 0;
            while let Some(job) = state.jobs.front() {
                if !group.is_empty() && tokens + job.tokens > shared.settings.group_tokens {
                    break;
                }
                tokens += job.tokens;
                group.push(state.jobs.pop_front().expect("a front job"));
            }
            state.queued_tokens -= tokens;
            state.running_tokens = tokens;
            state.running_since = Instant::now();
            group
        };
        let tokens: usize = group.iter().map(|job| job.tokens).sum();
        let texts: Vec<&str> = group.iter().flat_map(|job| job.texts.iter().map(String::as_str)).collect();
        let started = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| encoder.encode(&texts)))
            .unwrap_or_else(|_| Err(EngineError::Compute(candle_core::Error::Msg("the encoder panicked".into()))));
        let seconds = started.elapsed().as_secs_f64().max(1e-3);
        {
            let mut state = shared.lock();
            state.running_tokens = 0;
            if result.is_ok() {
                state.tokens_per_second = 0.7 * state.tokens_per_second + 0.3 * (tokens as f64 / seconds);
            }
        }
        match result {
            Ok(embeddings) => {
                let mut embeddings = embeddings.into_iter();
                for job in group {
                    let _ = job.reply.send(Ok(embeddings.by_ref().take(job.texts.len()).collect()));
                }
            }
            Err(err) => {
                let message = err.to_string();
                for job in group {
                    let _ = job.reply.send(Err(EngineError::Compute(candle_core::Error::Msg(message.clone()))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A stand-in encoder that records its calls: the queue is what is under test.
    struct Counting {
        calls: Arc<AtomicUsize>,
        delay: Duration,
        /// Told when a call starts.
        started: Option<Mutex<mpsc::Sender<()>>>,
    }

    impl Encoder for Counting {
        fn dimension(&self) -> usize {
            1
        }

        fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EngineError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(started) = &self.started {
                started.lock().unwrap().send(()).unwrap();
            }
            if texts.contains(&"panic") {
                panic!("a stand-in failure");
            }
            std::thread::sleep(self.delay);
            Ok(texts.iter().map(|t| vec![t.len() as f32]).collect())
        }
    }

    #[test]
    fn concurrent_callers_share_groups_and_each_gets_its_own_embeddings() {
        let calls = Arc::new(AtomicUsize::new(0));
        let encoder = Counting { calls: calls.clone(), delay: Duration::from_millis(50), started: None };
        let queue = Arc::new(EncoderQueue::new(Box::new(encoder), QueueSettings::default()).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let queue = queue.clone();
                std::thread::spawn(move || {
                    let texts: Vec<String> = (0..=i).map(|j| "x".repeat(i * 10 + j + 1)).collect();
                    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                    let got = queue.encode(&refs).unwrap();
                    assert_eq!(got, texts.iter().map(|t| vec![t.len() as f32]).collect::<Vec<_>>());
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert!(calls.load(Ordering::SeqCst) < 8, "8 callers took {} encoder calls", calls.load(Ordering::SeqCst));
    }

    #[test]
    fn a_job_that_would_wait_past_the_bound_is_refused_at_once() {
        let (started, running) = mpsc::channel();
        let encoder =
            Counting { calls: Arc::default(), delay: Duration::from_secs(2), started: Some(Mutex::new(started)) };
        let settings =
            QueueSettings { max_wait: Duration::from_millis(100), initial_tokens_per_second: 100.0, ..Default::default() };
        let queue = Arc::new(EncoderQueue::new(Box::new(encoder), settings).unwrap());
        let first = {
            let queue = queue.clone();
            std::thread::spawn(move || queue.encode(&["a long text, two seconds of work at this rate ".repeat(14).as_str()]))
        };
        running.recv().unwrap();
        let started = Instant::now();
        assert!(matches!(queue.encode(&["next"]), Err(EngineError::Busy { .. })));
        assert!(started.elapsed() < Duration::from_secs(1), "refused without waiting for the 2 s job");
        assert!(first.join().unwrap().is_ok(), "the job already taken is answered");
        assert!(queue.encode(&["after"]).is_ok(), "an idle queue takes any job");
    }

    #[test]
    fn a_panic_in_the_encoder_fails_its_group_and_the_queue_goes_on() {
        let encoder = Counting { calls: Arc::default(), delay: Duration::ZERO, started: None };
        let queue = EncoderQueue::new(Box::new(encoder), QueueSettings::default()).unwrap();
        assert!(queue.encode(&["panic"]).is_err());
        assert_eq!(queue.encode(&["fine"]).unwrap(), vec![vec![4.0]]);
    }
}
