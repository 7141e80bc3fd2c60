//! The link between the nodes of a cluster, through Redis (docs/deployment.md,
//! "Redis"): frames for recipients connected to other nodes, presence across
//! nodes, send/upload limits, login throttles, per-source limits and socket
//! caps shared by every node, and the wake-up of the directory watchers.
//!
//! Redis carries no message that is not in the database: a lost publish
//! delays a frame, never loses a message. A node whose subscription comes
//! back after a loss closes its sockets with 1012 so that their clients
//! resume from the database by `seq`; a client that sees a `seq` gap asks
//! for the missing messages itself. When Redis does not answer, every limit
//! falls back to the node's own in-process one (counted in
//! `dmp_redis_errors`): stricter per node is impossible without Redis, but
//! never unlimited.

use crate::config::Config;
use crate::hub::Hub;
use crate::metrics::Metrics;
use anyhow::Context as _;
use axum::extract::ws::Utf8Bytes;
use dmp_protocol::UserId;
use fred::clients::SubscriberClient;
use fred::prelude::*;
use fred::types::scripts::Script;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};

/// How often a node says it is alive; it counts as gone after three misses.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// Lifetime of the liveness key and of the node's online set.
const ALIVE_MS: i64 = 6_000;
/// Lifetime of a socket-count hash (refreshed by every new socket).
const SLOTS_TTL_MS: i64 = 24 * 3600 * 1000;
/// A command that takes longer counts as failed (the node falls back).
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
/// Frames waiting to be published; beyond, frames for other nodes are dropped
/// (counted; their recipients catch up from the database).
const PUBLISH_QUEUE: usize = 65_536;
/// Users per presence query (Lua's `unpack` has a limit).
const USERS_PER_QUERY: usize = 1_000;

/// The channel of the directory wake-ups.
pub const DIRECTORY_CHANNEL: &str = "dmp:directory";

fn user_channel(user: &UserId) -> String {
    format!("dmp:u:{user}")
}

/// Users of other live nodes among ARGV[2..] (ARGV[1] is this instance);
/// forgets the nodes whose liveness key expired.
const ONLINE_ELSEWHERE: &str = r"
local me = ARGV[1]
local n = #ARGV - 1
local out = {}
for i = 1, n do out[i] = 0 end
if n == 0 then return out end
local users = {}
for i = 2, #ARGV do users[i - 1] = ARGV[i] end
for _, node in ipairs(redis.call('SMEMBERS', 'dmp:nodes')) do
  if node ~= me then
    if redis.call('EXISTS', 'dmp:node:' .. node) == 1 then
      local flags = redis.call('SMISMEMBER', 'dmp:online:' .. node, unpack(users))
      for i = 1, n do if flags[i] == 1 then out[i] = 1 end end
    else
      redis.call('SREM', 'dmp:nodes', node)
      redis.call('DEL', 'dmp:online:' .. node)
    end
  end
end
return out
";

/// Takes a socket place in KEYS[1] (a hash: instance -> sockets) for
/// instance ARGV[1] if the live instances hold fewer than ARGV[2]; 1 or 0.
const SLOT_TAKE: &str = r"
local total = 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local node = fields[i]
  if node == ARGV[1] or redis.call('EXISTS', 'dmp:node:' .. node) == 1 then
    total = total + tonumber(fields[i + 1])
  else
    redis.call('HDEL', KEYS[1], node)
  end
end
if total >= tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

/// Gives a socket place back.
const SLOT_GIVE: &str = r"
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n
";

/// GCRA on KEYS[1]: one token every ARGV[1] µs, bursts of ARGV[2] tokens,
/// on Redis's clock. 0 when taken, else the wait in µs.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat + interval - burst * interval
if allow_at > now then return allow_at - now end
local new = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000) + 1)
return 0
";

/// Login throttle, KEYS[1] a hash {f: failures, u: locked until (ms)}:
/// ARGV[1] max failures, ARGV[2] base lock ms, ARGV[3] longest lock ms.
/// Counts one attempt as a failure; 0, or the wait in ms while locked.
const THROTTLE_RESERVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local f = tonumber(redis.call('HGET', KEYS[1], 'f') or '0')
local u = tonumber(redis.call('HGET', KEYS[1], 'u') or '0')
if u > now then return u - now end
f = f + 1
local max = tonumber(ARGV[1])
local longest = tonumber(ARGV[3])
if f >= max then
  local extra = math.min(f - max, 16)
  u = now + math.min(tonumber(ARGV[2]) * (2 ^ extra), longest)
end
redis.call('HSET', KEYS[1], 'f', f, 'u', string.format('%.0f', u))
redis.call('PEXPIRE', KEYS[1], math.max(longest, tonumber(ARGV[2])) + (u > now and (u - now) or 0))
return 0
";

/// Whether KEYS[1] is locked now: 1 or 0.
const THROTTLE_LOCKED: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local u = tonumber(redis.call('HGET', KEYS[1], 'u') or '0')
if u > now then return 1 end
return 0
";

/// An ordered change of this node's subscriptions and online set.
#[derive(Debug)]
enum Presence {
    Here(UserId),
    Gone(UserId),
}

/// This node's link to Redis.
pub struct Redis {
    /// The operator's name for the node (logs, `x-dmp-node`).
    node: Arc<str>,
    /// This process: the node's name and a random suffix, so that a node
    /// restarted under the same name never inherits its former counts.
    instance: Arc<str>,
    client: Client,
    subscriber: SubscriberClient,
    publish: mpsc::Sender<(UserId, Utf8Bytes)>,
    publish_rx: parking_lot::Mutex<Option<mpsc::Receiver<(UserId, Utf8Bytes)>>>,
    presence: mpsc::UnboundedSender<Presence>,
    presence_rx: parking_lot::Mutex<Option<mpsc::UnboundedReceiver<Presence>>>,
    metrics: Arc<Metrics>,
    /// Woken by every directory publish (and after a reconnection).
    pub directory_wake: Arc<Notify>,
    hub: OnceLock<Arc<Hub>>,
    scripts: Scripts,
}

struct Scripts {
    online_elsewhere: Script,
    slot_take: Script,
    slot_give: Script,
    gcra: Script,
    throttle_reserve: Script,
    throttle_locked: Script,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("node", &self.node)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// The node's name: `node_id`, or a random one.
pub fn node_name(config: &Config) -> Arc<str> {
    if config.node_id.is_empty() {
        format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]).into()
    } else {
        config.node_id.as_str().into()
    }
}

fn redis_config(config: &Config) -> anyhow::Result<fred::types::config::Config> {
    let url = config.redis_url.0.trim();
    let mut rc = fred::types::config::Config::from_url(url)
        .map_err(|e| anyhow::anyhow!("redis_url is not a Redis URL: {}", e.details()))?;
    if url.starts_with("rediss://") {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if let Some(ca) = &config.redis_ca_file {
            let pem = std::fs::read(ca)
                .with_context(|| format!("cannot read redis_ca_file {}", ca.display()))?;
            for cert in <rustls_pki_types::CertificateDer as rustls_pki_types::pem::PemObject>::pem_slice_iter(&pem) {
                roots
                    .add(cert.context("redis_ca_file is not PEM")?)
                    .context("redis_ca_file holds an unusable certificate")?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .context("TLS to Redis")?
        .with_root_certificates(roots)
        .with_no_client_auth();
        rc.tls = Some(fred::types::config::TlsConnector::from(tls).into());
    }
    Ok(rc)
}

fn build(rc: fred::types::config::Config) -> Builder {
    let mut b = Builder::from_config(rc);
    b.with_connection_config(|c| {
        c.connection_timeout = Duration::from_secs(2);
        c.internal_command_timeout = Duration::from_secs(2);
        c.max_command_attempts = 1;
    })
    .with_performance_config(|p| {
        p.default_command_timeout = COMMAND_TIMEOUT;
    })
    // Forever, every 100 ms to 2 s: a node outlives a Redis restart.
    .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2));
    b
}

impl Redis {
    /// Connects to `redis_url`. Fails (and the node does not start) when
    /// Redis cannot be reached at start: a misconfigured node must not run
    /// alone; later losses are survived by reconnecting.
    pub async fn connect(config: &Config, metrics: Arc<Metrics>) -> anyhow::Result<Arc<Self>> {
        let rc = redis_config(config)?;
        let client = build(rc.clone()).build().context("Redis client")?;
        let subscriber = build(rc)
            .build_subscriber_client()
            .context("Redis subscriber")?;
        for c in [&client, &subscriber.to_client()] {
            tokio::time::timeout(Duration::from_secs(5), c.init())
                .await
                .map_err(|_| {
                    anyhow::anyhow!("Redis ({:?}) did not answer within 5 s", config.redis_url)
                })?
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot connect to Redis ({:?}): {}",
                        config.redis_url,
                        e.details()
                    )
                })?;
        }
        let node = node_name(config);
        let instance: Arc<str> =
            format!("{node}.{}", &uuid::Uuid::new_v4().simple().to_string()[..8]).into();
        let (publish, publish_rx) = mpsc::channel(PUBLISH_QUEUE);
        let (presence, presence_rx) = mpsc::unbounded_channel();
        let redis = Arc::new(Self {
            node,
            instance,
            client,
            subscriber,
            publish,
            publish_rx: parking_lot::Mutex::new(Some(publish_rx)),
            presence,
            presence_rx: parking_lot::Mutex::new(Some(presence_rx)),
            metrics,
            directory_wake: Arc::new(Notify::new()),
            hub: OnceLock::new(),
            scripts: Scripts {
                online_elsewhere: Script::from_lua(ONLINE_ELSEWHERE),
                slot_take: Script::from_lua(SLOT_TAKE),
                slot_give: Script::from_lua(SLOT_GIVE),
                gcra: Script::from_lua(GCRA),
                throttle_reserve: Script::from_lua(THROTTLE_RESERVE),
                throttle_locked: Script::from_lua(THROTTLE_LOCKED),
            },
        });
        redis
            .heartbeat(true)
            .await
            .context("first Redis heartbeat")?;
        redis
            .subscriber
            .subscribe(DIRECTORY_CHANNEL)
            .await
            .context("Redis subscription")?;
        tracing::info!(node = %redis.node, instance = %redis.instance, "linked to the cluster through Redis");
        Ok(redis)
    }

    /// The node's name.
    pub fn node(&self) -> &Arc<str> {
        &self.node
    }

    /// Whether both connections are up (readiness).
    pub async fn ready(&self) -> bool {
        self.client.is_connected()
            && self.subscriber.is_connected()
            && self.client.ping::<String>(None).await.is_ok()
    }

    fn failed(&self, what: &str, e: &Error) {
        self.metrics.redis_errors.inc();
        tracing::debug!(error = %e.details(), what, "Redis command failed; using this node's own limit");
    }

    /// Starts the node's background work: publishing, subscriptions and
    /// presence, the incoming frames, the heartbeat. Ends with `stop`.
    pub fn spawn(
        self: &Arc<Self>,
        hub: Arc<Hub>,
        stop: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let _ = self.hub.set(hub.clone());
        let mut tasks = Vec::new();
        if let Some(rx) = self.publish_rx.lock().take() {
            tasks.push(tokio::spawn(self.clone().publisher(rx, stop.clone())));
        }
        if let Some(rx) = self.presence_rx.lock().take() {
            tasks.push(tokio::spawn(self.clone().presence_writer(rx, stop.clone())));
        }
        tasks.push(tokio::spawn(self.clone().receiver(hub, stop.clone())));
        tasks.push(tokio::spawn(self.clone().heartbeats(stop)));
        tasks
    }

    /// Queues a frame for `user`'s sockets on the other nodes (never waits).
    pub fn publish(&self, user: &UserId, text: &Utf8Bytes) {
        if self.publish.try_send((user.clone(), text.clone())).is_err() {
            self.metrics.cluster_dropped.inc();
        }
    }

    /// The user's first socket on this node opened.
    pub fn here(&self, user: &UserId) {
        let _ = self.presence.send(Presence::Here(user.clone()));
    }

    /// The user's last socket on this node closed.
    pub fn gone(&self, user: &UserId) {
        let _ = self.presence.send(Presence::Gone(user.clone()));
    }

    /// Wakes the directory watchers of every node (after a change the
    /// change log records).
    pub async fn directory_changed(&self) {
        if let Err(e) = self
            .client
            .publish::<i64, _, _>(DIRECTORY_CHANNEL, "1")
            .await
        {
            // The watchers still read the log every few seconds.
            self.failed("directory publish", &e);
        }
    }

    async fn publisher(
        self: Arc<Self>,
        mut rx: mpsc::Receiver<(UserId, Utf8Bytes)>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut batch = Vec::with_capacity(256);
        loop {
            let n = tokio::select! {
                _ = stop.wait_for(|v| *v) => return,
                n = rx.recv_many(&mut batch, 256) => n,
            };
            if n == 0 {
                return;
            }
            let pipeline = self.client.pipeline();
            for (user, text) in batch.drain(..) {
                let mut payload = Vec::with_capacity(self.instance.len() + 1 + text.len());
                payload.extend_from_slice(self.instance.as_bytes());
                payload.push(b'\n');
                payload.extend_from_slice(text.as_bytes());
                let _: Result<(), _> = pipeline.publish(user_channel(&user), payload).await;
            }
            if let Err(e) = pipeline.all::<Value>().await {
                // The recipients on other nodes catch up from the database.
                self.failed("publish", &e);
            }
        }
    }

    async fn presence_writer(
        self: Arc<Self>,
        mut rx: mpsc::UnboundedReceiver<Presence>,
        mut stop: watch::Receiver<bool>,
    ) {
        let online = format!("dmp:online:{}", self.instance);
        loop {
            let op = tokio::select! {
                _ = stop.wait_for(|v| *v) => return,
                op = rx.recv() => op,
            };
            let Some(op) = op else { return };
            let result = match &op {
                Presence::Here(user) => {
                    let sub = self.subscriber.subscribe(user_channel(user)).await;
                    let add = self
                        .client
                        .sadd::<i64, _, _>(&online, user.as_str())
                        .await
                        .map(drop);
                    sub.and(add)
                }
                Presence::Gone(user) => {
                    // Still online here again (a new socket raced the close)?
                    if self.hub.get().is_some_and(|h| h.is_online(user)) {
                        continue;
                    }
                    let unsub = self.subscriber.unsubscribe(user_channel(user)).await;
                    let rem = self
                        .client
                        .srem::<i64, _, _>(&online, user.as_str())
                        .await
                        .map(drop);
                    unsub.and(rem)
                }
            };
            if let Err(e) = result {
                // A reconnection re-subscribes and rewrites the online set.
                self.failed("presence", &e);
            }
        }
    }

    async fn receiver(self: Arc<Self>, hub: Arc<Hub>, mut stop: watch::Receiver<bool>) {
        let mut messages = self.subscriber.message_rx();
        let mut reconnects = self.subscriber.reconnect_rx();
        let resubscribe = self.subscriber.manage_subscriptions();
        let prefix = format!("{}\n", self.instance);
        use tokio::sync::broadcast::error::RecvError;
        enum Event {
            Stop,
            Message(fred::types::Message),
            Lost(&'static str),
            Nothing,
        }
        loop {
            let event = tokio::select! {
                _ = stop.wait_for(|v| *v) => Event::Stop,
                m = messages.recv() => match m {
                    Ok(m) => Event::Message(m),
                    Err(RecvError::Lagged(_)) => Event::Lost("cluster frames missed"),
                    Err(RecvError::Closed) => Event::Stop,
                },
                r = reconnects.recv() => match r {
                    Ok(_) => Event::Lost("the Redis subscription came back"),
                    Err(RecvError::Lagged(_)) => Event::Nothing,
                    Err(RecvError::Closed) => Event::Stop,
                },
            };
            match event {
                Event::Stop => break,
                Event::Message(m) => self.incoming(&hub, &prefix, m),
                Event::Lost(why) => {
                    tracing::warn!(
                        why,
                        "asking this node's clients to resume from the database"
                    );
                    self.resync(&hub).await;
                }
                Event::Nothing => {}
            }
        }
        resubscribe.abort();
    }

    fn incoming(&self, hub: &Hub, own: &str, m: fred::types::Message) {
        if &*m.channel == DIRECTORY_CHANNEL {
            self.directory_wake.notify_one();
            return;
        }
        let Some(user) = m.channel.strip_prefix("dmp:u:") else {
            return;
        };
        let Some(bytes) = m.value.as_bytes() else {
            return;
        };
        if bytes.starts_with(own.as_bytes()) {
            return; // this node delivered it already
        }
        let Some(nl) = bytes.iter().position(|b| *b == b'\n') else {
            return;
        };
        let Ok(text) = std::str::from_utf8(&bytes[nl + 1..]) else {
            return;
        };
        hub.send_local(
            &UserId(user.to_owned()),
            &Utf8Bytes::from(text.to_owned()),
            None,
            None,
        );
    }

    /// After frames may have been lost: rewrites this node's online set,
    /// reads the directory log, and closes the sockets with 1012 so that
    /// their clients reconnect and resume from the database.
    async fn resync(&self, hub: &Hub) {
        if let Err(e) = self.heartbeat(true).await {
            self.failed("heartbeat", &e);
        }
        self.directory_wake.notify_one();
        hub.close_all(dmp_protocol::ws::CLOSE_SERVICE_RESTART);
    }

    /// Says the instance is alive and keeps its online set; `full` also
    /// rewrites that set from the hub (at start and after a reconnection,
    /// when Redis may have lost it: otherwise `presence_writer` keeps it).
    async fn heartbeat(&self, full: bool) -> Result<(), Error> {
        let online = format!("dmp:online:{}", self.instance);
        let users: Vec<String> = match (full, self.hub.get()) {
            (true, Some(h)) => h.online().into_iter().map(|u| u.0).collect(),
            _ => Vec::new(),
        };
        let p = self.client.pipeline();
        let _: Result<(), _> = p
            .set(
                format!("dmp:node:{}", self.instance),
                &*self.node,
                Some(Expiration::PX(ALIVE_MS)),
                None,
                false,
            )
            .await;
        let _: Result<(), _> = p.sadd("dmp:nodes", &*self.instance).await;
        for chunk in users.chunks(USERS_PER_QUERY) {
            let _: Result<(), _> = p.sadd(&online, chunk.to_vec()).await;
        }
        let _: Result<(), _> = p.pexpire(&online, ALIVE_MS, None).await;
        p.all::<Value>().await.map(drop)
    }

    async fn heartbeats(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = stop.wait_for(|v| *v) => break,
                _ = tokio::time::sleep(HEARTBEAT) => {}
            }
            if let Err(e) = self.heartbeat(false).await {
                self.failed("heartbeat", &e);
            }
        }
        // Leaving: the other nodes stop counting this one at once.
        let p = self.client.pipeline();
        let _: Result<(), _> = p.del(format!("dmp:node:{}", self.instance)).await;
        let _: Result<(), _> = p.del(format!("dmp:online:{}", self.instance)).await;
        let _: Result<(), _> = p.srem("dmp:nodes", &*self.instance).await;
        let _ = p.all::<Value>().await;
    }

    /// Which of `users` have a socket on another live node (`Err` when
    /// Redis does not answer).
    pub async fn online_elsewhere(&self, users: &[UserId]) -> Result<Vec<bool>, Error> {
        let mut out = Vec::with_capacity(users.len());
        for chunk in users.chunks(USERS_PER_QUERY) {
            let mut args: Vec<&str> = Vec::with_capacity(chunk.len() + 1);
            args.push(&self.instance);
            args.extend(chunk.iter().map(UserId::as_str));
            let flags: Vec<i64> = self
                .scripts
                .online_elsewhere
                .evalsha_with_reload(&self.client, Vec::<String>::new(), args)
                .await
                .inspect_err(|e| self.failed("presence", e))?;
            out.extend(flags.into_iter().map(|f| f == 1));
        }
        Ok(out)
    }

    /// Takes one place in the cluster-wide socket count `key` (`dmp:ws:…`)
    /// under `max`; `Err` when Redis does not answer.
    pub async fn take_slot(&self, key: &str, max: usize) -> Result<bool, Error> {
        let taken: i64 = self
            .scripts
            .slot_take
            .evalsha_with_reload(
                &self.client,
                key,
                vec![
                    self.instance.to_string(),
                    max.to_string(),
                    SLOTS_TTL_MS.to_string(),
                ],
            )
            .await
            .inspect_err(|e| self.failed("socket cap", e))?;
        Ok(taken == 1)
    }

    /// Gives a place of `key` back.
    pub async fn give_slot(&self, key: &str) {
        let r: Result<i64, _> = self
            .scripts
            .slot_give
            .evalsha_with_reload(&self.client, key, vec![self.instance.to_string()])
            .await;
        if let Err(e) = r {
            self.failed("socket cap", &e);
        }
    }

    /// One token of the cluster-wide bucket `key`: `rate` per second,
    /// bursts of `burst`. `Ok(Err(wait))` when empty; `Err` when Redis does
    /// not answer.
    pub async fn take_token(
        &self,
        key: &str,
        rate: f64,
        burst: f64,
    ) -> Result<Result<(), Duration>, Error> {
        let interval_us = (1_000_000.0 / rate.max(1e-6)).round().max(1.0) as i64;
        let wait_us: i64 = self
            .scripts
            .gcra
            .evalsha_with_reload(
                &self.client,
                key,
                vec![interval_us.to_string(), format!("{}", burst.max(1.0))],
            )
            .await
            .inspect_err(|e| self.failed("rate limit", e))?;
        Ok(if wait_us <= 0 {
            Ok(())
        } else {
            Err(Duration::from_micros(wait_us.unsigned_abs()))
        })
    }

    /// Counts one login attempt of `key` as a failure (see
    /// `LoginThrottle::reserve`); `Ok(Err(wait))` while locked.
    pub async fn throttle_reserve(
        &self,
        key: &str,
        max_failures: u32,
        base: Duration,
        max: Duration,
    ) -> Result<Result<(), Duration>, Error> {
        let wait_ms: i64 = self
            .scripts
            .throttle_reserve
            .evalsha_with_reload(
                &self.client,
                key,
                vec![
                    max_failures.to_string(),
                    base.as_millis().to_string(),
                    max.as_millis().to_string(),
                ],
            )
            .await
            .inspect_err(|e| self.failed("login throttle", e))?;
        Ok(if wait_ms <= 0 {
            Ok(())
        } else {
            Err(Duration::from_millis(wait_ms.unsigned_abs()))
        })
    }

    /// Whether `key` is locked now.
    pub async fn throttle_locked(&self, key: &str) -> Result<bool, Error> {
        let locked: i64 = self
            .scripts
            .throttle_locked
            .evalsha_with_reload(&self.client, key, Vec::<String>::new())
            .await
            .inspect_err(|e| self.failed("login throttle", e))?;
        Ok(locked == 1)
    }

    /// Clears `key` after a success.
    pub async fn throttle_clear(&self, key: &str) {
        if let Err(e) = self.client.del::<i64, _>(key).await {
            self.failed("login throttle", &e);
        }
    }
}

/// Wakes the directory watchers of a cluster's nodes from another process
/// (the admin CLI, after a command that logged a directory change); nothing
/// when `redis_url` is empty. A failure is reported, not fatal: the nodes
/// still read the change log every `directory.cluster_poll_ms`.
pub async fn wake_nodes(config: &Config) -> anyhow::Result<()> {
    if config.redis_url.0.trim().is_empty() {
        return Ok(());
    }
    let client = build(redis_config(config)?)
        .build()
        .context("Redis client")?;
    let sent = async {
        client.init().await?;
        let n: i64 = client.publish(DIRECTORY_CHANNEL, "1").await?;
        let _ = client.quit().await;
        Ok::<i64, Error>(n)
    };
    match tokio::time::timeout(Duration::from_secs(5), sent).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(anyhow::anyhow!(
            "cannot tell the nodes through Redis ({}); they will see the change within {} ms",
            e.details(),
            config.directory.cluster_poll_ms
        )),
        Err(_) => Err(anyhow::anyhow!(
            "Redis did not answer; the nodes will see the change within {} ms",
            config.directory.cluster_poll_ms
        )),
    }
}
