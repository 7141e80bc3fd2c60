//! Shared server state (a `Clone` struct of `Arc`s) and the request
//! extractors that make authentication a type: a handler that takes an
//! [`AuthedUser`] cannot run for an unauthenticated caller.

use crate::auth::{TokenError, TokenSigner};
use crate::clock::Clock;
use crate::config::Config;
use crate::directory::{AccessRefusal, ContextAccess, Directory};
use crate::error::AppError;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::ratelimit::{AnonAudit, LoginThrottle, RateLimiter, SourceLimiter};
use crate::store::{AuditEvent, RequestMeta, Store, UserRecord};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use chrono::{DateTime, Utc};
use dmp_protocol::{ContextId, ContextType, UserId};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::sync::watch;

/// Everything handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Configuration.
    pub config: Arc<Config>,
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Users, contexts, logins, read through bounded caches.
    pub directory: Arc<Directory>,
    /// Access tokens.
    pub signer: Arc<TokenSigner>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Open sockets.
    pub hub: Arc<Hub>,
    /// Per-user send rate.
    pub send_limiter: Arc<RateLimiter<UserId>>,
    /// Failed logins per account name and per device token.
    pub login_throttle: Arc<LoginThrottle>,
    /// Per-source limit of login, prelogin and refresh.
    pub auth_limiter: Arc<SourceLimiter>,
    /// Per-source limit of WebSocket upgrades.
    pub ws_upgrade_limiter: Arc<SourceLimiter>,
    /// Folds audit rows of anonymous failures (one per source per minute).
    pub anon_audit: Arc<AnonAudit>,
    /// Where attachment bytes live (docs/deployment.md, "Attachments").
    pub attachment_files: Arc<dyn crate::store::files::AttachmentFiles>,
    /// Runs Argon2 (19 MiB each) at most once per core at a time.
    pub hasher: Arc<crate::auth::Hasher>,
    /// Flips to true when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// Per-user upload rate (`uploads.per_minute`).
    pub upload_limiter: Arc<RateLimiter<UserId>>,
    /// The other nodes, in a cluster (docs/deployment.md, "Redis").
    pub redis: Option<Arc<crate::cluster::Redis>>,
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct AuthedUser {
    /// The account.
    pub user: Arc<UserRecord>,
    /// The login (refresh family) the token belongs to.
    pub login: String,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
}

impl AuthedUser {
    /// The user's id.
    pub fn id(&self) -> &UserId {
        &self.user.id
    }
}

impl AppState {
    /// Now, from the injected clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Verifies an access token against the signer and the directory.
    pub async fn authenticate(&self, token: &str) -> Result<AuthedUser, AppError> {
        let now = self.now();
        let claims = self.signer.verify(token, now).map_err(|e| match e {
            TokenError::Expired => AppError::expired(),
            TokenError::Invalid => AppError::auth("invalid access token"),
        })?;
        let user = self
            .directory
            .user(&claims.sub)
            .await?
            .ok_or_else(|| AppError::auth("invalid access token"))?;
        if !self
            .directory
            .login_active(&claims.sid, &user.id, now)
            .await?
        {
            return Err(AppError::expired());
        }
        if user.disabled {
            // A valid token proves the credentials: saying why is no oracle.
            return Err(AppError::disabled());
        }
        let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
        Ok(AuthedUser {
            user,
            login: claims.sid,
            expires_at,
        })
    }

    /// The authorization rule, with denied attempts written to the audit trail.
    pub async fn authorize(
        &self,
        who: &AuthedUser,
        kind: ContextType,
        id: &ContextId,
        meta: &RequestMeta,
    ) -> Result<ContextAccess, AppError> {
        match self.directory.authorize(who.id(), kind, id).await? {
            Ok(access) => Ok(access),
            Err(refusal) => {
                self.audit_denied(
                    who.id().as_str(),
                    "context_access",
                    &format!("{kind}/{id}"),
                    meta,
                )
                .await;
                Err(match refusal {
                    AccessRefusal::AccountDisabled => AppError::disabled(),
                    AccessRefusal::UnknownContext | AccessRefusal::NotParticipant => {
                        AppError::denied()
                    }
                })
            }
        }
    }

    /// Writes one `denied` audit line; a failure to write is logged, not hidden.
    pub async fn audit_denied(&self, actor: &str, action: &str, target: &str, meta: &RequestMeta) {
        let ev = AuditEvent::new(self.now(), actor, action, target, "denied", meta);
        if let Err(e) = self.store.audit(ev).await {
            tracing::error!(error = %e, "audit write failed");
        }
    }

    /// Takes one request of the source's budget in `limiter`; 429 beyond.
    pub async fn check_source(
        &self,
        limiter: &SourceLimiter,
        meta: &RequestMeta,
    ) -> Result<(), AppError> {
        limiter
            .check(source_ip(meta))
            .await
            .map_err(|wait| AppError::rate_limited(wait.as_secs().saturating_add(1)))
    }

    /// Writes the audit row of an anonymous failure, folded per source and
    /// action: at most one row per minute, carrying how many were folded.
    pub async fn audit_anonymous(
        &self,
        action: &'static str,
        target: &str,
        outcome: &str,
        meta: &RequestMeta,
    ) {
        let Some(folded) = self.anon_audit.admit(source_ip(meta), action) else {
            return;
        };
        let target = if folded > 0 {
            format!("{target} (+{folded} earlier from this source)")
        } else {
            target.to_owned()
        };
        let ev = AuditEvent::new(self.now(), "anonymous", action, target, outcome, meta);
        if let Err(e) = self.store.audit(ev).await {
            tracing::error!(error = %e, "audit write failed");
        }
    }

    /// Tells every node of a cluster to read the directory change log now
    /// (after a store call that logged a change); nothing on a single node,
    /// whose watcher polls the log.
    pub async fn directory_changed(&self) {
        if let Some(r) = &self.redis {
            r.directory_changed().await;
        }
    }

    /// Writes one audit line.
    pub async fn audit(&self, ev: AuditEvent) -> Result<(), AppError> {
        self.store.audit(ev).await.map_err(AppError::from)
    }
}

/// The source address of a request (unspecified when unknown).
pub fn source_ip(meta: &RequestMeta) -> IpAddr {
    meta.ip
        .parse()
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// Extracts the bearer token of a request.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

impl FromRequestParts<AppState> for AuthedUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or_else(|| AppError::auth("missing bearer token"))?;
        let user = state.authenticate(token).await?;
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

impl FromRequestParts<AppState> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(request_meta(parts, &state.config.trusted_proxies))
    }
}

/// The client's address: the TCP peer, or, when the peer is a trusted load
/// balancer, the rightmost `X-Forwarded-For` address that is not itself
/// trusted (the entries left of it could be written by the client).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut last = peer;
    for value in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(value) = value.to_str() else {
            return last;
        };
        for item in value.rsplit(',') {
            let Ok(ip) = item.trim().parse::<IpAddr>() else {
                return last;
            };
            if !is_trusted(&ip) {
                return ip;
            }
            last = ip;
        }
    }
    last
}

/// Address, user agent and request id of a request.
pub fn request_meta(parts: &Parts, trusted_proxies: &[ipnet::IpNet]) -> RequestMeta {
    let ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| client_ip(c.0.ip(), &parts.headers, trusted_proxies).to_string())
        .unwrap_or_default();
    let header_str = |name: &str| -> String {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect())
            .unwrap_or_default()
    };
    RequestMeta {
        ip,
        user_agent: header_str("user-agent"),
        request_id: header_str("x-request-id"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let lb: Vec<ipnet::IpNet> = vec!["10.0.0.0/24".parse().unwrap()];
        let client: IpAddr = "198.51.100.7".parse().unwrap();
        let lb_ip: IpAddr = "10.0.0.5".parse().unwrap();
        // Direct client: a forged header is ignored.
        assert_eq!(client_ip(client, &headers(&["203.0.113.9"]), &lb), client);
        // Through the balancer: the rightmost untrusted entry.
        assert_eq!(
            client_ip(lb_ip, &headers(&["203.0.113.9, 198.51.100.7"]), &lb),
            client
        );
        assert_eq!(
            client_ip(lb_ip, &headers(&["198.51.100.7", "10.0.0.6"]), &lb),
            client
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(client_ip(lb_ip, &headers(&["nonsense"]), &lb), lb_ip);
        // No header: the balancer itself.
        assert_eq!(client_ip(lb_ip, &headers(&[]), &lb), lb_ip);
        // Nothing trusted: never believed.
        assert_eq!(client_ip(lb_ip, &headers(&["198.51.100.7"]), &[]), lb_ip);
    }
}
