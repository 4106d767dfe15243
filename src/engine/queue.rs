//! A queue in front of an encoder, so that concurrent callers share forward passes instead of
//! fighting for the cores (as text-embeddings-inference does).
//!
//! Callers enqueue their texts and block; one worker thread builds *groups* of at most a token
//! budget from the jobs waiting, in arrival order, encodes each group in one call (the encoder
//! sorts all its texts by length and fills its batches across callers), and hands each caller
//! its embeddings once all its texts are done. A job larger than what a group has room for
//! gives a slice and goes back to the end of the queue, round robin: a large request shares
//! the encoder with the small ones that arrive behind it instead of holding it for minutes.
//!
//! The wait is bounded: the queue measures its own throughput (tokens a second) and refuses a
//! job at once, with [`EngineError::Busy`], when the work to be done before its first slice
//! runs would take longer than [`QueueSettings::max_wait`]. A job arriving at an idle queue is
//! always taken. Tokens are estimated from characters (one per three, plus the special
//! tokens): the estimate only sizes groups and waits, it never truncates anything.

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
    /// Estimated tokens of each text.
    tokens: Vec<usize>,
    /// Texts before this one are encoded (or in the running group).
    next: usize,
    embeddings: Vec<Vec<f32>>,
    reply: Reply,
}

impl Job {
    fn tokens_left(&self) -> usize {
        self.tokens[self.next..].iter().sum()
    }
}

/// Groups this small are latency-bound: they would understate the throughput.
const MIN_MEASURED_TOKENS: usize = 1_024;

struct State {
    jobs: VecDeque<Job>,
    /// Estimated tokens not yet taken into a group, and in the group being encoded (since when).
    queued_tokens: usize,
    running_tokens: usize,
    running_since: Instant,
    /// Measured throughput, smoothed over groups.
    tokens_per_second: f64,
    closed: bool,
}

impl State {
    /// Estimated tokens encoded before a job queued now gets its first slice: what is left of
    /// the running group, then one slice of each job waiting (round robin).
    fn work_before_a_new_job(&self, group_tokens: usize) -> f64 {
        let done = self.running_since.elapsed().as_secs_f64() * self.tokens_per_second;
        let running = (self.running_tokens as f64 - done).max(0.0);
        running + self.jobs.iter().map(|job| job.tokens_left().min(group_tokens) as f64).sum::<f64>()
    }
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
        let worker = std::thread::Builder::new()
            .name("verbatim-encoder".into())
            .spawn(move || run(&worker_shared, &*encoder))?;
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
        let tokens: Vec<usize> = texts.iter().map(|t| estimated_tokens(t)).collect();
        let total: usize = tokens.iter().sum();
        let (reply, answer) = mpsc::sync_channel(1);
        let texts = texts.iter().map(|t| t.to_string()).collect();
        let job = Job { texts, tokens, next: 0, embeddings: Vec::new(), reply };
        {
            let mut state = self.shared.lock();
            if state.closed {
                return Err(stopped());
            }
            let ahead = state.work_before_a_new_job(self.shared.settings.group_tokens);
            let wait = Duration::from_secs_f64(ahead / state.tokens_per_second);
            if ahead > 0.0 && wait > self.shared.settings.max_wait {
                return Err(EngineError::Busy { wait });
            }
            state.queued_tokens += total;
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

/// A failure the queue reports to a caller (the encoder's own errors are passed on as text:
/// one error goes to every job of the group).
fn failed(message: impl Into<String>) -> EngineError {
    EngineError::Compute(candle_core::Error::Msg(message.into()))
}

fn stopped() -> EngineError {
    failed("the encoder queue stopped")
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

/// The worker: builds groups from the jobs in arrival order, encodes each in one call, answers
/// the jobs it finished and sends the others to the back of the queue. A panic in the encoder
/// fails its group's jobs only; the worker goes on with the next.
fn run(shared: &Shared, encoder: &dyn Encoder) {
    let _close = CloseOnExit(shared);
    loop {
        // Each member: the job, and the range of its texts in this group.
        let group: Vec<(Job, std::ops::Range<usize>)> = {
            let mut state = shared.lock();
            while state.jobs.is_empty() && !state.closed {
                state = shared.work.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if state.jobs.is_empty() {
                return; // Closed and drained.
            }
            let mut group = Vec::new();
            let mut tokens = 0;
            while let Some(mut job) = state.jobs.pop_front() {
                let start = job.next;
                // A group takes at least one text, however long.
                while job.next < job.texts.len()
                    && (tokens == 0 || tokens + job.tokens[job.next] <= shared.settings.group_tokens)
                {
                    tokens += job.tokens[job.next];
                    job.next += 1;
                }
                let full = job.next < job.texts.len();
                let taken = start..job.next;
                group.push((job, taken));
                if full {
                    break;
                }
            }
            state.queued_tokens -= tokens;
            state.running_tokens = tokens;
            state.running_since = Instant::now();
            group
        };
        let tokens: usize = group.iter().map(|(job, range)| job.tokens[range.clone()].iter().sum::<usize>()).sum();
        let texts: Vec<&str> =
            group.iter().flat_map(|(job, range)| job.texts[range.clone()].iter().map(String::as_str)).collect();
        let started = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| encoder.encode(&texts)))
            .unwrap_or_else(|_| Err(failed("the encoder panicked")));
        let seconds = started.elapsed().as_secs_f64().max(1e-3);
        let mut unfinished = Vec::new();
        // Answers go out once the queue's state says the group is over: a caller answered
        // and asking again at once must find the queue as idle as it is.
        let mut answers = Vec::new();
        // Texts of failed jobs not yet taken into a group: no longer queued.
        let mut dropped_tokens = 0;
        let succeeded = result.is_ok();
        match result {
            Ok(embeddings) => {
                let mut embeddings = embeddings.into_iter();
                for (mut job, range) in group {
                    job.embeddings.extend(embeddings.by_ref().take(range.len()));
                    if job.next < job.texts.len() {
                        unfinished.push(job);
                    } else {
                        answers.push((job.reply, Ok(job.embeddings)));
                    }
                }
            }
            Err(err) => {
                let message = err.to_string();
                for (job, _) in group {
                    dropped_tokens += job.tokens_left();
                    answers.push((job.reply, Err(failed(message.clone()))));
                }
            }
        }
        {
            let mut state = shared.lock();
            state.running_tokens = 0;
            state.queued_tokens -= dropped_tokens;
            if succeeded && tokens >= MIN_MEASURED_TOKENS {
                state.tokens_per_second = 0.7 * state.tokens_per_second + 0.3 * (tokens as f64 / seconds);
            }
            state.jobs.extend(unfinished);
        }
        for (reply, answer) in answers {
            let _ = reply.send(answer);
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
        let settings = QueueSettings {
            max_wait: Duration::from_millis(100),
            initial_tokens_per_second: 100.0,
            ..Default::default()
        };
        let queue = Arc::new(EncoderQueue::new(Box::new(encoder), settings).unwrap());
        let first = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                queue.encode(&["a long text, two seconds of work at this rate ".repeat(14).as_str()])
            })
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

    #[test]
    fn a_large_job_takes_turns_with_the_small_jobs_behind_it() {
        let calls = Arc::new(AtomicUsize::new(0));
        let (started, running) = mpsc::channel();
        let encoder =
            Counting { calls: calls.clone(), delay: Duration::from_millis(100), started: Some(Mutex::new(started)) };
        let settings = QueueSettings { group_tokens: 100, ..Default::default() };
        let queue = Arc::new(EncoderQueue::new(Box::new(encoder), settings).unwrap());
        // 20 texts of about 34 tokens: seven groups of two or three texts.
        let large: Vec<String> = (0..20).map(|i| format!("{i:>3}").repeat(32)).collect();
        let big = {
            let (queue, large) = (queue.clone(), large.clone());
            std::thread::spawn(move || {
                let refs: Vec<&str> = large.iter().map(String::as_str).collect();
                let got = queue.encode(&refs).unwrap();
                (got, Instant::now())
            })
        };
        running.recv().unwrap();
        let small = queue.encode(&["short"]).unwrap();
        let small_done = Instant::now();
        assert_eq!(small, vec![vec![5.0]]);
        let (got, big_done) = big.join().unwrap();
        assert_eq!(got, large.iter().map(|t| vec![t.len() as f32]).collect::<Vec<_>>(), "in order, all of them");
        assert!(small_done < big_done, "the small job did not wait for the whole large one");
        assert!(calls.load(Ordering::SeqCst) >= 7);
    }
}
