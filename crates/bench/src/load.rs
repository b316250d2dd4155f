//! A closed-loop (or paced) gRPC load generator: N workers each send one request at a time for a
//! fixed duration and record every latency.

use std::future::Future;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    /// Sorted latencies in nanoseconds.
    pub latencies: Vec<u64>,
    /// CPU seconds the server and this load generator spent during the phase, when measured.
    pub cpu: Option<Cpu>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    pub server: f64,
    pub client: f64,
}

impl Cpu {
    /// User + system CPU seconds of `server` and of this process so far, from `/proc`.
    pub fn now(server: u32) -> Option<Cpu> {
        Some(Cpu {
            server: cpu_seconds(&server.to_string())?,
            client: cpu_seconds("self")?,
        })
    }

    pub fn since(self, before: Cpu) -> Cpu {
        Cpu {
            server: self.server - before.server,
            client: self.client - before.client,
        }
    }
}

/// `utime + stime` of `/proc/<process>/stat`, in seconds (Linux clock ticks are 1/100 s).
fn cpu_seconds(process: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{process}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((user + system) as f64 / 100.0)
}

impl Stats {
    pub fn throughput(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// CPU microseconds per request: (server, load generator).
    pub fn cpu_per_request(&self) -> Option<(f64, f64)> {
        let cpu = self.cpu?;
        let requests = self.requests.max(1) as f64;
        Some((cpu.server * 1e6 / requests, cpu.client * 1e6 / requests))
    }

    /// The latency at quantile `q` (0..1) in microseconds.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[index] as f64 / 1000.0
    }
}

/// Runs `workers` loops of `call(worker, iteration)` for `duration`. With `rate` (requests/s in
/// total), each worker paces its sends instead of sending back to back. The CPU time of the
/// `server` process and of this one is measured over the phase.
pub async fn drive<F, Fut>(
    server: u32,
    workers: usize,
    duration: Duration,
    rate: Option<f64>,
    call: F,
) -> Stats
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let cpu_before = Cpu::now(server);
    let start = Instant::now();
    let deadline = start + duration;
    let interval = rate.map(|rate| Duration::from_secs_f64(workers as f64 / rate));
    let mut handles = Vec::new();
    for worker in 0..workers {
        let call = call.clone();
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            let mut iteration = 0u64;
            // Spread paced workers over one interval so they do not fire together.
            let mut next = start
                + interval.map_or(Duration::ZERO, |every| {
                    every * worker as u32 / workers as u32
                });
            loop {
                if let Some(every) = interval {
                    tokio::time::sleep_until(next.into()).await;
                    next += every;
                }
                let sent = Instant::now();
                if sent >= deadline {
                    break;
                }
                let ok = call(worker, iteration).await;
                latencies.push(sent.elapsed().as_nanos() as u64);
                if !ok {
                    errors += 1;
                }
                iteration += 1;
            }
            (latencies, errors)
        }));
    }
    let mut stats = Stats::default();
    for handle in handles {
        let (latencies, errors) = handle.await.expect("load worker panicked");
        stats.requests += latencies.len() as u64;
        stats.errors += errors;
        stats.latencies.extend(latencies);
    }
    stats.seconds = start.elapsed().as_secs_f64().max(duration.as_secs_f64());
    stats.cpu = cpu_before
        .zip(Cpu::now(server))
        .map(|(before, after)| after.since(before));
    stats.latencies.sort_unstable();
    stats
}
