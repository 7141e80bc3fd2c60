//! The urgent-message e-mail (docs/messaging.md, "Urgent e-mail"): when an
//! urgent message to a doctor stays unread for `mail.urgent_after_minutes`,
//! the doctor gets one e-mail that says only that something urgent waits. No
//! health data goes into it: no text, no record, no patient, no sender.

use crate::config::MailConfig;
use crate::state::AppState;
use crate::store::{AuditEvent, RequestMeta};
use chrono::Duration as ChronoDuration;
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;
use tokio::sync::watch;

/// The subject of every urgent-message e-mail.
pub const SUBJECT: &str = "Message urgent en attente - DMP Messagerie";

/// The body: how many urgent messages wait, nothing else about them.
pub fn body(count: usize) -> String {
    let first = if count == 1 {
        "Un message urgent vous attend dans DMP Messagerie.".to_owned()
    } else {
        format!("{count} messages urgents vous attendent dans DMP Messagerie.")
    };
    format!(
        "Bonjour,\r\n\r\n{first}\r\nConnectez-vous à l'application pour le lire.\r\n\r\n\
         Cet e-mail ne contient aucune donnée de santé. \
         Ne répondez pas : cette adresse ne reçoit pas de messages.\r\n"
    )
}

/// An SMTP submission client: STARTTLS required before anything is sent,
/// the server's certificate checked against the public roots and the
/// configured CA.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The mailer of `config`, or `None` when e-mail is off.
    pub fn new(config: &MailConfig) -> anyhow::Result<Option<Self>> {
        if !config.enabled() {
            return Ok(None);
        }
        let mut tls = TlsParameters::builder(config.smtp_host.clone());
        if let Some(ca) = &config.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| anyhow::anyhow!("mail.ca_file {}: {e}", ca.display()))?;
            tls = tls.add_root_certificate(Certificate::from_pem(&pem)?);
        }
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.smtp_host)
                .port(config.smtp_port)
                .tls(Tls::Required(tls.build()?))
                .timeout(Some(Duration::from_secs(20)));
        if !config.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                config.username.clone(),
                config.password.clone(),
            ));
        }
        Ok(Some(Self {
            transport: builder.build(),
            from: config
                .from
                .parse()
                .map_err(|e| anyhow::anyhow!("mail.from: {e}"))?,
        }))
    }

    async fn send(&self, to: &str, count: usize) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.parse()?)
            .subject(SUBJECT)
            .header(ContentType::TEXT_PLAIN)
            .body(body(count))?;
        self.transport.send(message).await?;
        Ok(())
    }
}

/// One look: claims what is due, e-mails each doctor once for all of it,
/// and gives back what could not be sent (the next look retries). Returns
/// the number of e-mails sent.
pub async fn run_urgent_mail(state: &AppState, mailer: &Mailer) -> usize {
    let now = state.now();
    let cutoff = now - ChronoDuration::minutes(i64::from(state.config.mail.urgent_after_minutes));
    let due = match state.store.claim_urgent_mail(cutoff, now).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "cannot look for urgent messages to e-mail");
            return 0;
        }
    };
    let mut sent = 0;
    for mail in due {
        let outcome = match mailer.send(&mail.email, mail.messages.len()).await {
            Ok(()) => {
                sent += 1;
                "ok"
            }
            Err(e) => {
                // The error names the server's answer, never the address.
                tracing::warn!(error = %e, doctor = %mail.doctor, "urgent-message e-mail failed");
                if let Err(e) = state.store.release_urgent_mail(mail.messages.clone()).await {
                    tracing::warn!(error = %e, "cannot give back unsent urgent messages");
                }
                "failed"
            }
        };
        let ev = AuditEvent::new(
            now,
            "system",
            "urgent_mail",
            mail.doctor.as_str(),
            outcome,
            &RequestMeta::default(),
        );
        if let Err(e) = state.store.audit(ev).await {
            tracing::warn!(error = %e, "cannot audit an urgent-message e-mail");
        }
    }
    sent
}

/// Looks every `mail.scan_interval_secs` until the server stops.
pub async fn urgent_mail_loop(state: AppState, mailer: Mailer, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(state.config.mail.scan_interval_secs.max(1));
    loop {
        tokio::select! {
            _ = stop.wait_for(|v| *v) => return,
            _ = tokio::time::sleep(every) => {}
        }
        run_urgent_mail(&state, &mailer).await;
    }
}
