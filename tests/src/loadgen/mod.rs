//! `dmp-loadgen run`: logs in the synthetic users of `dmp-loadgen users`,
//! opens their WebSockets, makes each pair's patient and doctor write to
//! each other, and reports one JSON line: how much was sent, acknowledged,
//! received, lost and duplicated, the end-to-end latency quantiles (sender's
//! write to the recipient's first receive, on this process's monotonic
//! clock), the achieved rate and the server's resident memory.
//!
//! Two traffic shapes: a fixed aggregate rate, spread round-robin over all
//! connections by one scheduler ticking every millisecond, and (`--rate 0`)
//! a closed loop where every connection keeps `--window` sends in flight and
//! refills on each ack, for the maximum throughput. With `--bare` the same
//! frames go through `dmp-bare-relay` instead, without logins. With
//! `--recipient-server` the doctors log in and connect at another base URL
//! than the patients (another node of a cluster), so that every message
//! crosses from one node to the other. The run is
//! bounded: every network step has a timeout, traffic stops after
//! `--warmup + --duration`, stragglers get `--grace` seconds.

pub mod conn;
pub mod stats;
pub mod wire;

use crate::users;
use anyhow::{bail, ensure, Context as _};
use conn::{Cmd, Conn, Layout};
use dmp_protocol::api::{LoginRequest, TokenResponse};
use futures_util::StreamExt;
use serde::Serialize;
use stats::{get, lock, Counters, Latencies, PairReceived, Quantiles};
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Largest content the server accepts (DESIGN §5).
const MAX_CONTENT: usize = 1000;
/// Time the connections get to close cleanly at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Arguments of `dmp-loadgen run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Base URL of dmp-server (or of dmp-bare-relay with --bare); loopback only.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// Base URL for the doctors (the patients' recipients) when it is not
    /// `--server`: another node of the same cluster, so that every message
    /// crosses from one node to the other. Loopback only. With --bare it
    /// must reach the same relay (e.g. through a proxy).
    #[arg(long, value_name = "URL")]
    pub recipient_server: Option<String>,
    /// Patient/doctor pairs (as written by `dmp-loadgen users`).
    #[arg(long)]
    pub pairs: usize,
    /// WebSocket connections per user.
    #[arg(long, default_value_t = 1)]
    pub devices: usize,
    /// Aggregate messages per second over all pairs; 0 = as fast as acks allow.
    #[arg(long, required_unless_present = "idle")]
    pub rate: Option<f64>,
    /// Seconds of measured traffic.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of traffic before the measured window.
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,
    /// Seconds to wait for stragglers after the last send.
    #[arg(long, default_value_t = 5.0)]
    pub grace: f64,
    /// Sends in flight per connection with --rate 0.
    #[arg(long, default_value_t = 32)]
    pub window: usize,
    /// Characters of message content (at most 1000).
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Recipients answer every message with a `delivered` receipt.
    #[arg(long)]
    pub receipts: bool,
    /// Talk to dmp-bare-relay: no login, /pair/{i}/{role} URLs.
    #[arg(long)]
    pub bare: bool,
    /// Connect everything, read the server's memory, send nothing.
    #[arg(long)]
    pub idle: bool,
    /// The server's process id, to read its resident memory (VmRSS).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// Seconds the server gets to settle before each memory reading.
    #[arg(long, default_value_t = 2.0)]
    pub settle: f64,
    /// Password of the synthetic users.
    #[arg(long, default_value = users::DEFAULT_PASSWORD)]
    pub password: String,
    /// Logins in flight (the server's Argon2 verification is the bottleneck).
    #[arg(long, default_value_t = 16)]
    pub login_concurrency: usize,
    /// WebSocket handshakes in flight.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Free text copied into the report (scenario name).
    #[arg(long)]
    pub label: Option<String>,
}

/// State every connection task shares.
#[derive(Debug)]
pub struct Shared {
    /// Random tag of this run inside every clientMessageId.
    pub run: String,
    /// Connection numbering.
    pub layout: Layout,
    origin: std::time::Instant,
    measure_from: AtomicU64,
    measure_to: AtomicU64,
    /// Set when the run starts closing its connections.
    pub closing: AtomicBool,
    /// Recipients send `delivered` receipts.
    pub receipts: bool,
    /// Closed-loop mode: acks return send permits.
    pub windowed: bool,
    /// Counters.
    pub counters: Counters,
    /// End-to-end latency, send to first receive.
    pub latency: Latencies,
    /// Send to ack.
    pub ack_latency: Latencies,
    /// Receive bitmaps per pair.
    pub pairs: Vec<Mutex<PairReceived>>,
    /// `error` frames by code.
    pub error_codes: Mutex<BTreeMap<String, u64>>,
    /// Why connections ended early.
    pub close_reasons: Mutex<BTreeMap<String, u64>>,
}

impl Shared {
    /// Nanoseconds since this run's clock origin.
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn ns_of(&self, at: Instant) -> u64 {
        u64::try_from(
            at.into_std()
                .saturating_duration_since(self.origin)
                .as_nanos(),
        )
        .unwrap_or(u64::MAX)
    }

    /// Whether `ns` falls in the measured window.
    pub fn in_window(&self, ns: u64) -> bool {
        ns >= self.measure_from.load(Ordering::Relaxed)
            && ns < self.measure_to.load(Ordering::Relaxed)
    }
}

/// The one JSON line of a run.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `--label`.
    pub label: Option<String>,
    /// `server` or `bare`.
    pub mode: &'static str,
    /// `--recipient-server`: the doctors' base URL when not the patients'
    /// (cross-node run); absent when everyone used `--server`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_server: Option<String>,
    /// `rate`, `window` or `idle`.
    pub traffic: &'static str,
    /// Random tag of the run.
    pub run_id: String,
    /// Pairs.
    pub pairs: usize,
    /// Connections per user.
    pub devices: usize,
    /// Connections opened.
    pub connections: usize,
    /// Requested aggregate rate (0 = closed loop).
    pub rate: f64,
    /// In-flight sends per connection in closed-loop mode.
    pub window: Option<usize>,
    /// Measured seconds.
    pub duration_secs: f64,
    /// Warm-up seconds.
    pub warmup_secs: f64,
    /// Content characters.
    pub size: usize,
    /// Receipts on.
    pub receipts: bool,
    /// Seconds spent logging in.
    pub login_secs: f64,
    /// Seconds spent connecting.
    pub connect_secs: f64,
    /// Sends written.
    pub sent: u64,
    /// Sends written in the measured window.
    pub sent_in_window: u64,
    /// Acks received.
    pub acked: u64,
    /// Messages received by their recipient (unique per recipient user).
    pub received: u64,
    /// Of those, received in the measured window.
    pub received_in_window: u64,
    /// Sent but never received.
    pub lost: u64,
    /// Received more than once on the same connection.
    pub duplicated: u64,
    /// Own messages echoed to the sender's other devices.
    pub echoes: u64,
    /// Messages not of this run or not of the receiving pair.
    pub foreign: u64,
    /// `error` frames.
    pub errors: u64,
    /// `error` frames about a send.
    pub send_errors: u64,
    /// `error` frames by code.
    pub error_codes: BTreeMap<String, u64>,
    /// Scheduled sends the load generator could not queue (it fell behind).
    pub client_dropped: u64,
    /// Receipts written.
    pub receipts_sent: u64,
    /// Receipts dropped on a full queue.
    pub receipts_dropped: u64,
    /// Connections that ended before the run closed them.
    pub disconnects: u64,
    /// Why they ended.
    pub close_reasons: BTreeMap<String, u64>,
    /// Incoming frames by type.
    pub frames: BTreeMap<String, u64>,
    /// End-to-end latency of messages sent in the window, milliseconds.
    pub latency_p50_ms: f64,
    /// 99th percentile.
    pub latency_p99_ms: f64,
    /// 99.9th percentile.
    pub latency_p999_ms: f64,
    /// Largest.
    pub latency_max_ms: f64,
    /// Mean.
    pub latency_mean_ms: f64,
    /// Samples.
    pub latency_samples: u64,
    /// Send-to-ack latency quantiles, milliseconds.
    pub ack_latency_ms: Quantiles,
    /// Sends per second in the window.
    pub offered_per_sec: f64,
    /// Receives per second in the window.
    pub achieved_per_sec: f64,
    /// Server VmRSS before connecting, KiB.
    pub rss_before_connect_kib: Option<u64>,
    /// Server VmRSS with every socket open and idle, KiB.
    pub rss_after_connect_kib: Option<u64>,
    /// Server VmRSS at the end of the traffic, KiB.
    pub rss_end_kib: Option<u64>,
    /// (after connect − before) / connections, KiB.
    pub rss_per_connection_kib: Option<f64>,
    /// Server CPU time (user + system) during the measured window, in cores.
    pub server_cpu_cores: Option<f64>,
    /// That CPU time per message received in the window, microseconds: far
    /// steadier from run to run than messages per second on a shared machine.
    pub server_cpu_us_per_message: Option<f64>,
}

/// Resident memory of a process in KiB, from /proc/PID/status.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system) a process has used so far, in seconds, from
/// /proc/PID/stat (in USER_HZ, 100 per second on Linux).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// The server's base URLs, checked to be loopback.
#[derive(Debug, Clone)]
struct Endpoint {
    http: String,
    ws: String,
}

impl Endpoint {
    fn parse(server: &str) -> anyhow::Result<Self> {
        let host = server
            .strip_prefix("http://")
            .context("--server must look like http://127.0.0.1:PORT")?
            .trim_end_matches('/');
        ensure!(
            !host.is_empty() && !host.contains('/'),
            "--server must look like http://127.0.0.1:PORT"
        );
        let addrs: Vec<SocketAddr> = host
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {host}"))?
            .collect();
        ensure!(
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()),
            "--server must be a loopback address: the load generator only targets this machine"
        );
        Ok(Self {
            http: format!("http://{host}"),
            ws: format!("ws://{host}"),
        })
    }
}

fn log(msg: impl std::fmt::Display) {
    eprintln!("[loadgen] {msg}");
}

/// Warns when the open-file limit is too low for the connections.
fn check_fd_limit(connections: usize) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(soft) = soft {
        if connections + 64 > soft {
            log(format!("warning: {connections} connections but `ulimit -n` is {soft}; raise it (e.g. ulimit -n 65536)"));
        }
    }
}

fn validate(args: &RunArgs) -> anyhow::Result<f64> {
    ensure!(args.pairs > 0, "--pairs must be at least 1");
    ensure!((1..=64).contains(&args.devices), "--devices must be 1..=64");
    ensure!(
        args.size <= MAX_CONTENT,
        "--size must be at most {MAX_CONTENT}"
    );
    ensure!(
        args.duration > 0.0 && args.duration <= 3600.0,
        "--duration must be in (0, 3600]"
    );
    ensure!(
        args.warmup >= 0.0 && args.warmup <= 600.0,
        "--warmup must be in [0, 600]"
    );
    ensure!(
        args.grace >= 0.0 && args.grace <= 120.0,
        "--grace must be in [0, 120]"
    );
    ensure!(
        (0.0..=120.0).contains(&args.settle),
        "--settle must be in [0, 120]"
    );
    ensure!(
        (1..=100_000).contains(&args.window),
        "--window must be 1..=100000"
    );
    ensure!(
        args.login_concurrency > 0 && args.connect_concurrency > 0,
        "concurrency must be positive"
    );
    let rate = args.rate.unwrap_or(0.0);
    ensure!(
        rate.is_finite() && (0.0..=10_000_000.0).contains(&rate),
        "--rate must be in [0, 10000000]"
    );
    Ok(rate)
}

async fn login(
    client: &reqwest::Client,
    http: &str,
    username: String,
    password: &str,
) -> anyhow::Result<String> {
    let body = LoginRequest {
        username: username.clone(),
        password: password.to_owned(),
        device_token: None,
    };
    let response = client
        .post(format!("{http}/api/auth/login"))
        .json(&body)
        .send()
        .await
        .with_context(|| format!("login of {username}"))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        bail!("login of {username} failed: HTTP {status}: {text}");
    }
    Ok(response
        .json::<TokenResponse>()
        .await
        .with_context(|| format!("login of {username}"))?
        .access_token)
}

/// Access tokens of every user, indexed by `pair * 2 + role`; each role logs
/// in at its own base URL (`http[role]`).
async fn login_all(
    http: [&str; 2],
    layout: Layout,
    password: &str,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()?;
    let users = layout.pairs * 2;
    let mut tokens = vec![String::new(); users];
    let mut done = 0;
    let started = Instant::now();
    let mut last_log = Instant::now();
    let mut logins = futures_util::stream::iter(0..users)
        .map(|u| {
            let client = &client;
            async move {
                let name = if u % 2 == 0 {
                    users::patient_username(u / 2)
                } else {
                    users::doctor_username(u / 2)
                };
                (u, login(client, http[u % 2], name, password).await)
            }
        })
        .buffer_unordered(concurrency);
    while let Some((u, token)) = logins.next().await {
        tokens[u] = token?;
        done += 1;
        if last_log.elapsed() >= Duration::from_secs(5) || done == users {
            last_log = Instant::now();
            let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
            log(format!("logged in {done}/{users} ({rate:.0}/s)"));
        }
    }
    Ok(tokens)
}

/// Opens and starts every connection, in connection order; each role at its
/// own endpoint (`endpoints[role]`).
async fn connect_all(
    args: &RunArgs,
    endpoints: &[Endpoint; 2],
    shared: &Arc<Shared>,
    tokens: Option<&[String]>,
) -> anyhow::Result<Vec<Conn>> {
    let layout = shared.layout;
    let total = layout.connections();
    let config = conn::client_config(total);
    let mut conns: Vec<Option<Conn>> = (0..total).map(|_| None).collect();
    let mut done = 0;
    let mut last_log = Instant::now();
    let mut opening = futures_util::stream::iter(0..total)
        .map(|c| async move {
            let slot = layout.slot(c).context("connection index out of range")?;
            let ws_base = endpoints[slot.role].ws.as_str();
            let token = tokens.map(|t| t[slot.pair * 2 + slot.role].as_str());
            let ws = conn::open(ws_base, slot, token, config)
                .await
                .with_context(|| {
                    format!(
                        "connection {c} ({} of pair {})",
                        conn::ROLES[slot.role],
                        slot.pair
                    )
                })?;
            anyhow::Ok((slot, ws))
        })
        .buffer_unordered(args.connect_concurrency);
    while let Some(opened) = opening.next().await {
        let (slot, ws) = opened?;
        if tokens.is_some() {
            shared.counters.frame(stats::FrameKind::Ready);
        }
        conns[slot.conn] = Some(conn::spawn(
            ws,
            slot,
            shared.clone(),
            args.size,
            args.window,
        ));
        done += 1;
        if last_log.elapsed() >= Duration::from_secs(5) || done == total {
            last_log = Instant::now();
            log(format!("connected {done}/{total}"));
        }
    }
    conns
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .context("a connection is missing")
}

/// Fixed-rate traffic: one scheduler spreads sends round-robin over all
/// connections, pairs first so that consecutive sends hit different pairs.
async fn scheduled(
    shared: &Shared,
    conns: &[Conn],
    rate: f64,
    start: Instant,
    end: Instant,
) -> u64 {
    let layout = shared.layout;
    let per_pair = 2 * layout.devices;
    let order: Vec<usize> = (0..conns.len())
        .map(|k| (k % layout.pairs) * per_pair + k / layout.pairs)
        .collect();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut issued: u64 = 0;
    // Send k is due at start + k / rate: the first at once, the last before `end`.
    let total = (end.saturating_duration_since(start).as_secs_f64() * rate).ceil() as u64;
    loop {
        tick.tick().await;
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(start).as_secs_f64();
        let due = ((elapsed * rate) as u64 + 1).min(total);
        while issued < due {
            let c = order[(issued % order.len() as u64) as usize];
            if conns[c].tx.try_send(Cmd::Send).is_err() {
                stats::bump(&shared.counters.client_dropped);
            }
            issued += 1;
        }
        if now >= end {
            return issued;
        }
    }
}

/// Waits until the `issued` scheduled sends are written, and every send is
/// received and acknowledged (or refused), at most `grace`.
async fn drain(shared: &Shared, grace: Duration, issued: u64) {
    let c = &shared.counters;
    let deadline = Instant::now() + grace;
    // Writers may be finishing a batch that started just before the end.
    tokio::time::sleep(Duration::from_millis(20)).await;
    while Instant::now() < deadline {
        let sent = get(&c.sent);
        let settled = get(&c.send_errors);
        if sent + get(&c.client_dropped) >= issued
            && get(&c.received) + settled >= sent
            && get(&c.acked) + settled >= sent
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    log("grace period over with messages still missing");
}

async fn close_all(shared: &Shared, conns: Vec<Conn>) {
    shared.closing.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    for c in &conns {
        let _ = tokio::time::timeout_at(deadline, c.tx.send(Cmd::Close)).await;
    }
    for mut c in conns {
        for task in [&mut c.writer, &mut c.reader] {
            if tokio::time::timeout_at(deadline, &mut *task).await.is_err() {
                task.abort();
            }
        }
    }
}

fn lost(shared: &Shared, conns: &[Conn]) -> u64 {
    let layout = shared.layout;
    let mut lost = 0;
    for (pair, received) in shared.pairs.iter().enumerate() {
        let received = lock(received);
        for role in 0..2 {
            for device in 0..layout.devices {
                let sent = conns[layout.conn(pair, role, device)]
                    .sent
                    .load(Ordering::Relaxed);
                lost += sent - received.from[1 - role][device].count_below(sent);
            }
        }
    }
    lost
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Runs `dmp-loadgen run` and returns its report.
pub async fn run(args: RunArgs) -> anyhow::Result<Report> {
    let rate = validate(&args)?;
    let endpoint = Endpoint::parse(&args.server)?;
    let recipient_endpoint = match &args.recipient_server {
        Some(url) => Endpoint::parse(url).context("--recipient-server")?,
        None => endpoint.clone(),
    };
    // Indexed by role: patients on --server, doctors on --recipient-server.
    let endpoints = [endpoint.clone(), recipient_endpoint];
    let layout = Layout {
        pairs: args.pairs,
        devices: args.devices,
    };
    let total = layout.connections();
    check_fd_limit(total);
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let windowed = !args.idle && rate == 0.0;
    let shared = Arc::new(Shared {
        run: run_id.clone(),
        layout,
        origin: std::time::Instant::now(),
        measure_from: AtomicU64::new(u64::MAX),
        measure_to: AtomicU64::new(u64::MAX),
        closing: AtomicBool::new(false),
        receipts: args.receipts,
        windowed,
        counters: Counters::default(),
        latency: Latencies::new()?,
        ack_latency: Latencies::new()?,
        pairs: (0..args.pairs)
            .map(|_| Mutex::new(PairReceived::new(args.devices)))
            .collect(),
        error_codes: Mutex::new(BTreeMap::new()),
        close_reasons: Mutex::new(BTreeMap::new()),
    });
    let mode = if args.bare { "bare" } else { "server" };
    let at = match &args.recipient_server {
        Some(_) => format!(
            "patients at {}, doctors at {}",
            endpoints[0].http, endpoints[1].http
        ),
        None => format!("at {}", endpoint.http),
    };
    log(format!(
        "run {run_id}: {mode} {at}, {} pairs x {} devices = {total} connections",
        args.pairs, args.devices
    ));

    let started = Instant::now();
    let tokens = if args.bare {
        None
    } else {
        Some(
            login_all(
                [&endpoints[0].http, &endpoints[1].http],
                layout,
                &args.password,
                args.login_concurrency,
            )
            .await?,
        )
    };
    let login_secs = started.elapsed().as_secs_f64();

    let rss = |label: &str| {
        let v = args.server_pid.and_then(rss_kib);
        if let Some(kib) = v {
            log(format!("server RSS {label}: {kib} KiB"));
        }
        v
    };
    if args.server_pid.is_some() {
        tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    }
    let rss_before = rss("before connecting");
    let started = Instant::now();
    let conns = connect_all(&args, &endpoints, &shared, tokens.as_deref()).await?;
    let connect_secs = started.elapsed().as_secs_f64();
    drop(tokens);
    if args.server_pid.is_some() {
        tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    }
    let rss_after = rss("after connecting");

    let (traffic, cpu_used) = if args.idle {
        ("idle", None)
    } else {
        let start = Instant::now();
        let from = start + Duration::from_secs_f64(args.warmup);
        let end = from + Duration::from_secs_f64(args.duration);
        shared
            .measure_from
            .store(shared.ns_of(from), Ordering::Relaxed);
        shared
            .measure_to
            .store(shared.ns_of(end), Ordering::Relaxed);
        let cpu = args.server_pid.map(|pid| {
            tokio::spawn(async move {
                tokio::time::sleep_until(from).await;
                let first = cpu_secs(pid);
                tokio::time::sleep_until(end).await;
                Some(cpu_secs(pid)? - first?)
            })
        });
        let issued = if windowed {
            log(format!(
                "closed loop, window {} per connection, {:.0} s",
                args.window,
                args.warmup + args.duration
            ));
            for c in &conns {
                let _ = c.tx.send(Cmd::Go(end)).await;
            }
            tokio::time::sleep_until(end).await;
            0
        } else {
            log(format!(
                "{rate} msg/s for {:.0} s",
                args.warmup + args.duration
            ));
            scheduled(&shared, &conns, rate, start, end).await
        };
        log("traffic over, waiting for stragglers");
        drain(&shared, Duration::from_secs_f64(args.grace), issued).await;
        let cpu_used = match cpu {
            Some(task) => task.await.ok().flatten(),
            None => None,
        };
        (if windowed { "window" } else { "rate" }, cpu_used)
    };
    let rss_end = rss("at the end");
    let lost = lost(&shared, &conns);
    close_all(&shared, conns).await;

    let c = &shared.counters;
    let latency = Quantiles::of(&shared.latency.merged()?);
    let per_conn = match (rss_before, rss_after) {
        (Some(b), Some(a)) if total > 0 => Some(round3((a as f64 - b as f64) / total as f64)),
        _ => None,
    };
    let window_secs = if args.idle { 0.0 } else { args.duration };
    let per_sec = |n: u64| {
        if window_secs > 0.0 {
            round3(n as f64 / window_secs)
        } else {
            0.0
        }
    };
    let error_codes = lock(&shared.error_codes).clone();
    let close_reasons = lock(&shared.close_reasons).clone();
    let report = Report {
        label: args.label.clone(),
        mode,
        recipient_server: args
            .recipient_server
            .as_ref()
            .map(|_| endpoints[1].http.clone()),
        traffic,
        run_id,
        pairs: args.pairs,
        devices: args.devices,
        connections: total,
        rate,
        window: windowed.then_some(args.window),
        duration_secs: window_secs,
        warmup_secs: if args.idle { 0.0 } else { args.warmup },
        size: args.size,
        receipts: args.receipts,
        login_secs: round3(login_secs),
        connect_secs: round3(connect_secs),
        sent: get(&c.sent),
        sent_in_window: get(&c.sent_in_window),
        acked: get(&c.acked),
        received: get(&c.received),
        received_in_window: get(&c.received_in_window),
        lost,
        duplicated: get(&c.duplicated),
        echoes: get(&c.echoes),
        foreign: get(&c.foreign),
        errors: get(&c.errors),
        send_errors: get(&c.send_errors),
        error_codes,
        client_dropped: get(&c.client_dropped),
        receipts_sent: get(&c.receipts_sent),
        receipts_dropped: get(&c.receipts_dropped),
        disconnects: get(&c.disconnects),
        close_reasons,
        frames: c.frames(),
        latency_p50_ms: latency.p50,
        latency_p99_ms: latency.p99,
        latency_p999_ms: latency.p999,
        latency_max_ms: latency.max,
        latency_mean_ms: latency.mean,
        latency_samples: latency.count,
        ack_latency_ms: Quantiles::of(&shared.ack_latency.merged()?),
        offered_per_sec: per_sec(get(&c.sent_in_window)),
        achieved_per_sec: per_sec(get(&c.received_in_window)),
        rss_before_connect_kib: rss_before,
        rss_after_connect_kib: rss_after,
        rss_end_kib: rss_end,
        server_cpu_cores: cpu_used
            .filter(|_| window_secs > 0.0)
            .map(|s| round3(s / window_secs)),
        server_cpu_us_per_message: cpu_used
            .filter(|_| get(&c.received_in_window) > 0)
            .map(|s| round3(s * 1e6 / get(&c.received_in_window) as f64)),
        rss_per_connection_kib: per_conn,
    };
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback() {
        assert!(Endpoint::parse("http://127.0.0.1:8080").is_ok());
        assert_eq!(
            Endpoint::parse("http://127.0.0.1:8080/").unwrap().ws,
            "ws://127.0.0.1:8080"
        );
        assert!(Endpoint::parse("http://10.1.2.3:8080").is_err());
        assert!(Endpoint::parse("https://127.0.0.1:8080").is_err());
        assert!(Endpoint::parse("http://127.0.0.1:8080/api").is_err());
        let mut args = bare_args("http://127.0.0.1:1".into(), 1.0);
        args.recipient_server = Some("http://10.0.0.1:1".into());
        let err = futures_util::FutureExt::now_or_never(run(args))
            .expect("refused before any network step")
            .unwrap_err();
        assert!(format!("{err:#}").contains("--recipient-server"), "{err:#}");
    }

    fn bare_args(server: String, rate: f64) -> RunArgs {
        RunArgs {
            server,
            recipient_server: None,
            pairs: 3,
            devices: 2,
            rate: Some(rate),
            duration: 0.5,
            warmup: 0.1,
            grace: 5.0,
            window: 4,
            size: 200,
            receipts: true,
            bare: true,
            idle: false,
            server_pid: Some(std::process::id()),
            settle: 0.0,
            password: users::DEFAULT_PASSWORD.into(),
            login_concurrency: 1,
            connect_concurrency: 4,
            label: Some("test".into()),
        }
    }

    #[tokio::test]
    async fn runs_against_the_bare_relay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let relay = tokio::spawn(crate::relay::serve(listener, 4096, async {
            let _ = stopped.await;
        }));
        for rate in [200.0, 0.0] {
            let r = run(bare_args(server.clone(), rate)).await.unwrap();
            assert_eq!(r.connections, 12);
            assert!(r.sent > 0);
            assert_eq!((r.received, r.acked, r.lost), (r.sent, r.sent, 0));
            assert_eq!(
                (r.duplicated, r.errors, r.disconnects, r.foreign),
                (0, 0, 0, 0)
            );
            assert_eq!(r.receipts_sent, r.sent);
            assert!(r.latency_samples > 0 && r.latency_p50_ms > 0.0);
            assert!(r.rss_per_connection_kib.is_some());
            if rate > 0.0 {
                assert_eq!(r.sent, 120);
                assert!((50..=120).contains(&r.sent_in_window));
            }
        }
        let _ = stop.send(());
        relay.await.unwrap().unwrap();
    }

    /// Forwards every TCP connection of `listener` to `target` and counts them.
    fn forward(
        listener: tokio::net::TcpListener,
        target: SocketAddr,
    ) -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
        let accepted = Arc::new(AtomicU64::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        (accepted, task)
    }

    #[tokio::test]
    async fn doctors_connect_at_the_recipient_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay_addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let relay = tokio::spawn(crate::relay::serve(listener, 4096, async {
            let _ = stopped.await;
        }));
        // The "other node": a TCP forwarder in front of the same relay.
        let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
        let (through_proxy, forwarder) = forward(proxy, relay_addr);

        let mut args = bare_args(format!("http://{relay_addr}"), 200.0);
        args.recipient_server = Some(format!("{proxy_url}/"));
        let r = run(args).await.unwrap();
        // Every doctor socket (3 pairs x 2 devices), and nothing else, went
        // through the forwarder; messages crossed both ways.
        assert_eq!(through_proxy.load(Ordering::Relaxed), 6);
        assert_eq!(r.recipient_server.as_deref(), Some(proxy_url.as_str()));
        assert!(r.sent > 0);
        assert_eq!(
            (r.received, r.acked, r.lost, r.duplicated),
            (r.sent, r.sent, 0, 0)
        );
        let line = serde_json::to_value(&r).unwrap();
        assert_eq!(line["recipientServer"], proxy_url.as_str());

        // Without the option the report has no such field.
        let r = run(bare_args(format!("http://{relay_addr}"), 200.0))
            .await
            .unwrap();
        assert!(serde_json::to_value(&r)
            .unwrap()
            .get("recipientServer")
            .is_none());
        assert_eq!(through_proxy.load(Ordering::Relaxed), 6);

        forwarder.abort();
        let _ = stop.send(());
        relay.await.unwrap().unwrap();
    }

    #[test]
    fn reads_own_rss() {
        assert!(rss_kib(std::process::id()).is_some_and(|k| k > 0));
    }
}
