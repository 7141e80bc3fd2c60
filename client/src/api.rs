//! HTTP client for every endpoint of the companion server (DESIGN §3), over
//! reqwest with the `protocol` types. Access tokens are refreshed
//! automatically: when several calls see an expired token at once, only one
//! refresh goes out (single flight) and the others reuse its result.

use crate::error::{ClientError, ClientResult};
use dmp_protocol::api::*;
use dmp_protocol::*;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tokio::sync::Mutex;
use url::Url;
use zeroize::Zeroizing;

/// Called with each new refresh token so it can be persisted (keychain).
pub type OnRotate = Arc<dyn Fn(String) + Send + Sync>;

struct Tokens {
    access: Zeroizing<String>,
    refresh: Zeroizing<String>,
    /// Bumped by every refresh, so concurrent callers can tell whether it already happened.
    generation: u64,
    /// Unix seconds at which the access token expires.
    expires_at: i64,
    /// Refresh this many seconds before expiry: 30 s, or a quarter of a short lifetime.
    margin: i64,
}

fn margin(expires_in: u64) -> i64 {
    i64::try_from(expires_in / 4).unwrap_or(30).min(30)
}

/// A signed-in API client.
#[derive(Clone)]
pub struct ApiClient {
    base: Endpoint,
    tokens: Arc<Mutex<Tokens>>,
    on_rotate: Option<OnRotate>,
    /// Authenticated requests sent so far (tests count them).
    requests: Arc<std::sync::atomic::AtomicU64>,
}

impl ApiClient {
    /// The server this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.base
    }
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// Parses a server URL, keeping only scheme, host and port. `http://` is
/// refused unless the server is this machine (docs/security.md "Transport").
pub fn parse_server(server: &str) -> ClientResult<Url> {
    let url = Url::parse(server.trim()).map_err(|_| {
        ClientError::Invalid("the server address must look like https://host:port".into())
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ClientError::Invalid(
            "the server address must start with https://".into(),
        ));
    }
    if url.scheme() == "http" && !crate::tls::is_loopback(&url) {
        return Err(ClientError::InsecureServer);
    }
    let mut base = url;
    base.set_path("/");
    base.set_query(None);
    base.set_fragment(None);
    Ok(base)
}

/// A server address with the TLS trust used to reach it (one HTTP client,
/// one rustls configuration shared by REST and the WebSocket).
#[derive(Clone)]
pub struct Endpoint {
    url: Url,
    http: reqwest::Client,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for Endpoint {
    type Target = Url;
    fn deref(&self) -> &Url {
        &self.url
    }
}

impl Endpoint {
    /// Parses `server` ([`parse_server`]) and trusts `ca_file` besides the public roots.
    pub fn new(server: &str, ca_file: Option<&std::path::Path>) -> ClientResult<Self> {
        let url = parse_server(server)?;
        let tls = crate::tls::client_config(ca_file)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .user_agent(concat!("dmp-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            // Below the server's 10 s for a silent kept-alive connection
            // (docs/security.md, "Connection bounds"), so a request never
            // goes out on a connection the server is closing.
            .pool_idle_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| ClientError::Tls(e.without_url().to_string()))?;
        Ok(Self { url, http, tls })
    }

    /// The base URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The TLS configuration (for the WebSocket).
    pub fn tls(&self) -> Arc<rustls::ClientConfig> {
        self.tls.clone()
    }
}

/// A change of a conversation's status ([`ApiClient::change_session`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionChange {
    /// Archived (either participant).
    Archive,
    /// Closed, with an optional reason (the doctor).
    Close(Option<CloseReason>),
    /// Reopened (the doctor).
    Reopen,
}

async fn decode<T: DeserializeOwned>(res: reqwest::Response) -> ClientResult<T> {
    let status = res.status();
    if status.is_success() {
        return res.json::<T>().await.map_err(|e| {
            ClientError::Network(format!(
                "unexpected answer from the server: {}",
                e.without_url()
            ))
        });
    }
    Err(error_from(status, res).await)
}

async fn error_from(status: StatusCode, res: reqwest::Response) -> ClientError {
    let retry_after = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match res.json::<ErrorBody>().await {
        Ok(body) if body.error.code == ErrorCode::AccountDisabled => ClientError::AccountDisabled,
        Ok(body) if body.error.code == ErrorCode::RateLimitExceeded => ClientError::RateLimited {
            retry_after_secs: retry_after.unwrap_or(1),
            message: body.error.message,
        },
        Ok(body) => ClientError::Api {
            status: status.as_u16(),
            code: body.error.code,
            message: body.error.message,
        },
        Err(_) => ClientError::Network(format!(
            "the server answered {status} without an error body"
        )),
    }
}

/// POSTs JSON to an endpoint that needs no token.
async fn post_anonymous<B: serde::Serialize, T: DeserializeOwned>(
    server: &Endpoint,
    path: &str,
    body: &B,
) -> ClientResult<T> {
    let url = server
        .join(path)
        .map_err(|e| ClientError::Invalid(e.to_string()))?;
    decode(server.http.post(url).json(body).send().await?).await
}

/// Logs in (no token needed), with the device token of a previous login
/// from this device if there is one.
pub async fn login(
    server: &Endpoint,
    username: &str,
    password: &str,
    device_token: Option<&str>,
) -> ClientResult<TokenResponse> {
    let body = LoginRequest {
        username: username.into(),
        password: password.into(),
        device_token: device_token.map(str::to_owned),
    };
    post_anonymous(server, "api/auth/login", &body).await
}

/// How the password must be turned into what is sent (no token needed).
pub async fn prelogin(server: &Endpoint, username: &str) -> ClientResult<PreloginResponse> {
    post_anonymous(
        server,
        "api/auth/prelogin",
        &PreloginRequest {
            username: username.into(),
        },
    )
    .await
}

/// `GET /api/limits`: the limits the server enforces (no token needed).
pub async fn limits(server: &Endpoint) -> ClientResult<Limits> {
    let url = server
        .join("api/limits")
        .map_err(|e| ClientError::Invalid(e.to_string()))?;
    decode(server.http.get(url).send().await?).await
}

/// Spends a refresh token (no access token needed).
pub async fn refresh(server: &Endpoint, refresh_token: &str) -> ClientResult<TokenResponse> {
    post_anonymous(
        server,
        "api/auth/refresh",
        &RefreshRequest {
            refresh_token: refresh_token.into(),
        },
    )
    .await
}

fn jwt_exp(token: &str) -> i64 {
    use base64::Engine;
    token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["exp"].as_i64())
        .unwrap_or(0)
}

impl ApiClient {
    /// A client for tokens just obtained.
    pub fn new(base: Endpoint, tokens: &TokenResponse, on_rotate: Option<OnRotate>) -> Self {
        Self {
            base,
            tokens: Arc::new(Mutex::new(Tokens {
                access: Zeroizing::new(tokens.access_token.clone()),
                refresh: Zeroizing::new(tokens.refresh_token.clone()),
                generation: 0,
                expires_at: jwt_exp(&tokens.access_token),
                margin: margin(tokens.expires_in),
            })),
            on_rotate,
            requests: Arc::default(),
        }
    }

    /// How many authenticated requests this client sent (refreshes excluded).
    pub fn request_count(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count_request(&self) {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The server's base URL.
    pub fn base(&self) -> &Url {
        self.base.url()
    }

    /// The TLS configuration shared with the WebSocket.
    pub fn tls(&self) -> Arc<rustls::ClientConfig> {
        self.base.tls()
    }

    /// The current access token, refreshed first when it is about to expire.
    pub async fn access_token(&self) -> ClientResult<Zeroizing<String>> {
        let (token, gen, exp, margin) = {
            let t = self.tokens.lock().await;
            (t.access.clone(), t.generation, t.expires_at, t.margin)
        };
        if exp - chrono::Utc::now().timestamp() > margin {
            return Ok(token);
        }
        self.refresh_after(gen).await
    }

    /// The current refresh token (for logout bookkeeping).
    pub async fn refresh_token(&self) -> Zeroizing<String> {
        self.tokens.lock().await.refresh.clone()
    }

    /// Refreshes now (the server refused the current access token).
    pub async fn force_refresh(&self) -> ClientResult<()> {
        let gen = self.tokens.lock().await.generation;
        self.refresh_after(gen).await.map(|_| ())
    }

    /// Refreshes unless another caller already did since `seen` (single flight).
    async fn refresh_after(&self, seen: u64) -> ClientResult<Zeroizing<String>> {
        let mut t = self.tokens.lock().await;
        if t.generation != seen {
            return Ok(t.access.clone());
        }
        let fresh = refresh(&self.base, &t.refresh).await?;
        t.access = Zeroizing::new(fresh.access_token.clone());
        t.refresh = Zeroizing::new(fresh.refresh_token.clone());
        t.expires_at = jwt_exp(&fresh.access_token);
        t.margin = margin(fresh.expires_in);
        t.generation += 1;
        if let Some(cb) = &self.on_rotate {
            cb(fresh.refresh_token);
        }
        Ok(t.access.clone())
    }

    fn url(&self, path: &str) -> ClientResult<Url> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ClientError::Invalid(e.to_string()))
    }

    /// Sends a request with the access token; on `SESSION_EXPIRED` refreshes once and retries.
    async fn call(
        &self,
        method: Method,
        path: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> ClientResult<reqwest::Response> {
        let url = self.url(path)?;
        let gen = self.tokens.lock().await.generation;
        let token = self.access_token().await?;
        self.count_request();
        let res = build(
            self.base
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.as_str()),
        )
        .send()
        .await?;
        if res.status() != StatusCode::UNAUTHORIZED {
            return Ok(res);
        }
        let err = error_from(res.status(), res).await;
        if !matches!(
            err,
            ClientError::Api {
                code: ErrorCode::SessionExpired,
                ..
            }
        ) {
            return Err(err);
        }
        let token = self.refresh_after(gen).await?;
        self.count_request();
        Ok(build(
            self.base
                .http
                .request(method, url)
                .bearer_auth(token.as_str()),
        )
        .send()
        .await?)
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> ClientResult<T> {
        decode(self.call(method, path, build).await?).await
    }

    /// `GET /api/me`.
    pub async fn me(&self) -> ClientResult<User> {
        self.json(Method::GET, "/api/me", |r| r).await
    }

    /// `POST /api/auth/logout`.
    pub async fn logout(&self) -> ClientResult<()> {
        let res = self.call(Method::POST, "/api/auth/logout", |r| r).await?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(error_from(res.status(), res).await)
        }
    }

    /// `GET /api/contexts`.
    pub async fn contexts(&self) -> ClientResult<Vec<ContextSummary>> {
        self.json(Method::GET, "/api/contexts", |r| r).await
    }

    /// `GET /api/messaging/history/...`.
    pub async fn history(
        &self,
        kind: ContextType,
        id: &ContextId,
        before: Option<u64>,
        limit: u32,
    ) -> ClientResult<HistoryResponse> {
        let q = HistoryQuery {
            before,
            limit: Some(limit),
        };
        self.json(
            Method::GET,
            &format!("/api/messaging/history/{kind}/{id}"),
            |r| r.query(&q),
        )
        .await
    }

    /// `POST /api/messaging/send`.
    pub async fn send(&self, req: &SendRequest) -> ClientResult<Message> {
        self.json(Method::POST, "/api/messaging/send", |r| r.json(req))
            .await
    }

    /// `PATCH /api/messaging/messages/{id}/read`.
    pub async fn mark_read(&self, id: &MessageId) -> ClientResult<Message> {
        self.json(
            Method::PATCH,
            &format!("/api/messaging/messages/{id}/read"),
            |r| r,
        )
        .await
    }

    /// `DELETE /api/messaging/messages/{id}`.
    pub async fn delete(&self, id: &MessageId) -> ClientResult<Message> {
        self.json(
            Method::DELETE,
            &format!("/api/messaging/messages/{id}"),
            |r| r,
        )
        .await
    }

    /// `POST /api/messaging/sessions`.
    pub async fn create_session(&self, kind: ContextType, id: &ContextId) -> ClientResult<Session> {
        let body = CreateSessionRequest {
            context_type: kind,
            context_id: id.clone(),
        };
        self.json(Method::POST, "/api/messaging/sessions", |r| r.json(&body))
            .await
    }

    /// `PATCH /api/messaging/sessions/{id}/archive` (either participant),
    /// `…/close` or `…/reopen` (the conversation's doctor).
    pub async fn change_session(
        &self,
        id: &SessionId,
        change: SessionChange,
    ) -> ClientResult<Session> {
        let (action, body) = match change {
            SessionChange::Archive => ("archive", None),
            SessionChange::Close(reason) => ("close", Some(CloseSessionRequest { reason })),
            SessionChange::Reopen => ("reopen", None),
        };
        self.json(
            Method::PATCH,
            &format!("/api/messaging/sessions/{id}/{action}"),
            |r| match &body {
                Some(b) => r.json(b),
                None => r,
            },
        )
        .await
    }

    /// `GET /api/messaging/sessions/{id}/access-log` (the conversation's patient).
    pub async fn access_log(&self, id: &SessionId) -> ClientResult<AccessLogResponse> {
        self.json(
            Method::GET,
            &format!("/api/messaging/sessions/{id}/access-log"),
            |r| r,
        )
        .await
    }

    /// `GET /api/me/templates` (a doctor): the sealed reply templates.
    pub async fn sealed_templates(&self) -> ClientResult<Option<SealedTemplates>> {
        self.json(Method::GET, "/api/me/templates", |r| r).await
    }

    /// `PUT /api/me/templates` (a doctor).
    pub async fn put_sealed_templates(
        &self,
        body: &PutTemplatesRequest,
    ) -> ClientResult<SealedTemplates> {
        self.json(Method::PUT, "/api/me/templates", |r| r.json(body))
            .await
    }

    /// `GET /api/me/absence` (a doctor).
    pub async fn absence(&self) -> ClientResult<Option<Absence>> {
        self.json(Method::GET, "/api/me/absence", |r| r).await
    }

    /// `PUT /api/me/absence` (a doctor).
    pub async fn set_absence(&self, absence: &Absence) -> ClientResult<Absence> {
        self.json(Method::PUT, "/api/me/absence", |r| r.json(absence))
            .await
    }

    /// `GET /api/me/office-hours` (a doctor).
    pub async fn office_hours(&self) -> ClientResult<Option<OfficeHours>> {
        self.json(Method::GET, "/api/me/office-hours", |r| r).await
    }

    /// `PUT /api/me/office-hours` (a doctor).
    pub async fn set_office_hours(&self, hours: &OfficeHours) -> ClientResult<OfficeHours> {
        self.json(Method::PUT, "/api/me/office-hours", |r| r.json(hours))
            .await
    }

    /// `DELETE /api/me/office-hours` (a doctor).
    pub async fn clear_office_hours(&self) -> ClientResult<()> {
        let res = self
            .call(Method::DELETE, "/api/me/office-hours", |r| r)
            .await?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(error_from(res.status(), res).await)
        }
    }

    /// `DELETE /api/me/absence` (a doctor).
    pub async fn clear_absence(&self) -> ClientResult<()> {
        let res = self.call(Method::DELETE, "/api/me/absence", |r| r).await?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(error_from(res.status(), res).await)
        }
    }

    /// `GET /api/messaging/permissions/...` for oneself.
    pub async fn permission(
        &self,
        kind: ContextType,
        id: &ContextId,
        me: &User,
    ) -> ClientResult<PermissionResponse> {
        self.json(
            Method::GET,
            &format!(
                "/api/messaging/permissions/{kind}/{id}/{}/{}",
                me.kind, me.id
            ),
            |r| r,
        )
        .await
    }

    /// `GET /api/messaging/stats/...` for oneself.
    pub async fn stats(&self, me: &User) -> ClientResult<StatsResponse> {
        self.json(
            Method::GET,
            &format!("/api/messaging/stats/{}/{}", me.kind, me.id),
            |r| r,
        )
        .await
    }

    /// `GET /api/messaging/notifications/...` for oneself.
    pub async fn notifications(&self, me: &User) -> ClientResult<NotificationsResponse> {
        self.json(
            Method::GET,
            &format!("/api/messaging/notifications/{}/{}", me.kind, me.id),
            |r| r,
        )
        .await
    }

    /// `GET /api/messaging/export/...`.
    pub async fn export(&self, kind: ContextType, id: &ContextId) -> ClientResult<ExportResponse> {
        self.json(
            Method::GET,
            &format!("/api/messaging/export/{kind}/{id}"),
            |r| r.query(&[("format", "json")]),
        )
        .await
    }

    /// `POST /api/messaging/attachments`.
    pub async fn upload(&self, name: &str, bytes: Vec<u8>) -> ClientResult<Attachment> {
        let name = name.to_owned();
        self.json(Method::POST, "/api/messaging/attachments", move |r| {
            let part = reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.clone());
            r.multipart(reqwest::multipart::Form::new().part("file", part))
        })
        .await
    }

    /// `GET /api/messaging/attachments/{id}`.
    pub async fn download(&self, id: &AttachmentId) -> ClientResult<Vec<u8>> {
        let res = self
            .call(
                Method::GET,
                &format!("/api/messaging/attachments/{id}"),
                |r| r,
            )
            .await?;
        if !res.status().is_success() {
            return Err(error_from(res.status(), res).await);
        }
        Ok(res.bytes().await?.to_vec())
    }

    /// `GET /api/keys/me`.
    pub async fn my_keys(&self) -> ClientResult<MyKeysResponse> {
        self.json(Method::GET, "/api/keys/me", |r| r).await
    }

    /// `PUT /api/keys/me`.
    pub async fn put_my_keys(&self, req: &PutKeysRequest) -> ClientResult<()> {
        let res = self
            .call(Method::PUT, "/api/keys/me", |r| r.json(req))
            .await?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(error_from(res.status(), res).await)
        }
    }

    /// `GET /api/keys/{user}`; `None` when the user has published no keys yet.
    pub async fn user_keys(&self, user: &UserId) -> ClientResult<Option<UserKeysResponse>> {
        match self
            .json(Method::GET, &format!("/api/keys/{user}"), |r| r)
            .await
        {
            Ok(k) => Ok(Some(k)),
            Err(ClientError::Api {
                code: ErrorCode::NotFound,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /api/auth/password`.
    pub async fn change_password(&self, req: &ChangePasswordRequest) -> ClientResult<()> {
        let res = self
            .call(Method::POST, "/api/auth/password", |r| r.json(req))
            .await?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(error_from(res.status(), res).await)
        }
    }

    /// Uploads a file from disk, streamed (`POST /api/messaging/attachments`).
    pub async fn upload_file(
        &self,
        path: &std::path::Path,
        name: &str,
    ) -> ClientResult<Attachment> {
        let len = tokio::fs::metadata(path).await?.len();
        let path = path.to_owned();
        let name = name.to_owned();
        let res = self
            .call(Method::POST, "/api/messaging/attachments", move |r| {
                let path = path.clone();
                let stream = futures_util::stream::unfold(None::<tokio::fs::File>, move |file| {
                    let path = path.clone();
                    async move {
                        use tokio::io::AsyncReadExt;
                        let mut file = match file {
                            Some(f) => f,
                            None => match tokio::fs::File::open(&path).await {
                                Ok(f) => f,
                                Err(e) => return Some((Err(e), None)),
                            },
                        };
                        let mut buf = vec![0u8; 64 * 1024];
                        match file.read(&mut buf).await {
                            Ok(0) => None,
                            Ok(n) => {
                                buf.truncate(n);
                                Some((Ok(buf), Some(file)))
                            }
                            Err(e) => Some((Err(e), Some(file))),
                        }
                    }
                });
                let part = reqwest::multipart::Part::stream_with_length(
                    reqwest::Body::wrap_stream(stream),
                    len,
                )
                .file_name(name.clone());
                r.multipart(reqwest::multipart::Form::new().part("file", part))
            })
            .await?;
        decode(res).await
    }

    /// Downloads an attachment into a file, streamed.
    pub async fn download_to(
        &self,
        id: &AttachmentId,
        path: &std::path::Path,
    ) -> ClientResult<u64> {
        use tokio::io::AsyncWriteExt;
        let mut res = self
            .call(
                Method::GET,
                &format!("/api/messaging/attachments/{id}"),
                |r| r,
            )
            .await?;
        if !res.status().is_success() {
            return Err(error_from(res.status(), res).await);
        }
        let mut file = tokio::fs::File::create(path).await?;
        let mut n = 0u64;
        while let Some(chunk) = res.chunk().await? {
            n += chunk.len() as u64;
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        Ok(n)
    }

    /// The WebSocket URL of the server.
    pub fn ws_url(&self) -> ClientResult<Url> {
        let mut u = self.url("/api/messaging/ws")?;
        let scheme = if u.scheme() == "https" { "wss" } else { "ws" };
        u.set_scheme(scheme)
            .map_err(|_| ClientError::Invalid("bad server scheme".into()))?;
        Ok(u)
    }
}
