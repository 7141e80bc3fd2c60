//! `dmp`: the command-line client, for people who live in a terminal and for
//! scripted checks. Data directory: `DMP_CLIENT_DATA_DIR`.

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use dmp_client::{ClientConfig, ClientEvent, DmpClient, ExportFormat};
use dmp_protocol::{
    AccessAction, AttachmentId, CloseReason, ContextId, ContextType, MessageMetadata,
    QuestionCategory, SessionStatus,
};
use std::io::{IsTerminal, Read};
use std::path::PathBuf;

/// DMP secure messaging from the terminal.
#[derive(Parser, Debug)]
#[command(name = "dmp", version)]
struct Cli {
    /// CA certificate (PEM) to trust besides the public roots, e.g. the
    /// `tls/ca.pem` that `dmp-server demo` prints; remembered with the login.
    #[arg(long, global = true, env = "DMP_CA_FILE", value_name = "FILE")]
    ca_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// `--ca-file`, set once before any command runs.
static CA_FILE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

fn config(notifications: bool) -> ClientConfig {
    let mut c = ClientConfig::from_env(notifications);
    if let Some(Some(ca)) = CA_FILE.get() {
        c.ca_file = Some(ca.clone());
    }
    c
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sign in and keep the login in the OS keychain.
    Login {
        /// Server address, e.g. https://127.0.0.1:8443 (http:// only for this machine).
        #[arg(long)]
        server: String,
        /// Username.
        #[arg(long)]
        username: String,
        /// Read the password from standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List your ordonnances and examens with unread counts.
    Contexts,
    /// Send a message (queued and retried if the server is unreachable).
    Send {
        /// ordonnance or examen.
        context_type: ContextType,
        /// The record id (ord_…, exa_…).
        context_id: String,
        /// The text.
        text: String,
        /// Mark it urgent.
        #[arg(long)]
        urgent: bool,
        /// Ask for an answer.
        #[arg(long)]
        requires_response: bool,
        /// What the question is about (patients): question, clarification,
        /// side_effects (ordonnance); explanation, interpretation, next_steps
        /// (examen); other.
        #[arg(long, value_name = "CATEGORY")]
        category: Option<QuestionCategory>,
        /// Attach files (pdf, jpg, png, doc, docx; 10 MB).
        #[arg(long = "attach", value_name = "FILE")]
        attach: Vec<PathBuf>,
    },
    /// Close a conversation (its doctor): the patient can read it, not write.
    Close {
        /// ordonnance or examen.
        context_type: ContextType,
        /// The record id (ord_…, exa_…).
        context_id: String,
        /// Why: answered, consultation, contact_practice or other (a code:
        /// the notice is written by the server in clear; say more in an
        /// end-to-end encrypted message first).
        #[arg(long, value_name = "REASON")]
        reason: Option<CloseReason>,
    },
    /// Reopen a closed conversation (its doctor).
    Reopen {
        /// ordonnance or examen.
        context_type: ContextType,
        /// The record id (ord_…, exa_…).
        context_id: String,
    },
    /// Who accessed a conversation (its patient): history reads, exports,
    /// downloads, closing; and what an administrator did to the account.
    AccessLog {
        /// ordonnance or examen.
        context_type: ContextType,
        /// The record id (ord_…, exa_…).
        context_id: String,
    },
    /// A doctor's absence: show it, set it (--from, --until, --note), or
    /// end it (--clear). Patients who write meanwhile get an automatic
    /// answer, once per conversation.
    Absence {
        /// Start (RFC 3339, e.g. 2026-12-24T08:00:00+01:00); default now.
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// End (RFC 3339).
        #[arg(long, conflicts_with = "clear")]
        until: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// A note to patients (who replaces you, how to reach the practice).
        #[arg(long, requires = "until")]
        note: Option<String>,
        /// End the absence now.
        #[arg(long)]
        clear: bool,
    },
    /// A doctor's weekly office hours: show them, set them (--slot, repeated,
    /// e.g. --slot lundi=09:00-12:00 --slot jeudi=14:00-18:00, and --tz), or
    /// remove them (--clear). Patients who write outside them are told when
    /// the doctor reads messages next.
    Hours {
        /// A weekly slot: DAY=HH:MM-HH:MM (lundi…dimanche or monday…sunday).
        #[arg(long = "slot", value_parser = parse_slot, conflicts_with = "clear")]
        slots: Vec<dmp_protocol::OfficeSlot>,
        /// IANA time zone of the slots.
        #[arg(long, default_value = "Europe/Paris")]
        tz: String,
        /// Remove the office hours.
        #[arg(long)]
        clear: bool,
    },
    /// A doctor's reply templates, kept end-to-end encrypted for the doctor:
    /// list them, add one (--title, --text; placeholders {prenom}, {nom},
    /// {document}), or delete one (--delete ID).
    Templates {
        /// Title of a new template.
        #[arg(long, requires = "text", conflicts_with = "delete")]
        title: Option<String>,
        /// Text of a new template.
        #[arg(long, requires = "title")]
        text: Option<String>,
        /// Delete the template with this id.
        #[arg(long)]
        delete: Option<String>,
    },
    /// Archive a conversation (a new message makes it active again).
    Archive {
        /// ordonnance or examen.
        context_type: ContextType,
        /// The record id (ord_…, exa_…).
        context_id: String,
    },
    /// Show a conversation.
    History {
        /// ordonnance or examen.
        context_type: ContextType,
        /// The record id.
        context_id: String,
        /// Messages to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Print incoming events live until interrupted (or for --seconds).
    Watch {
        /// Stop after this many seconds.
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Search your messages (accents and case ignored).
    Search {
        /// Words to find.
        words: String,
        /// Limit to one context: TYPE/ID, e.g. ordonnance/ord_789.
        #[arg(long)]
        context: Option<String>,
    },
    /// Export a conversation.
    Export {
        /// ordonnance or examen.
        context_type: ContextType,
        /// The record id.
        context_id: String,
        /// json or html.
        #[arg(long, default_value = "json")]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Sign out: revoke the login and delete the local data and keychain entries.
    Logout,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("DMP_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<dmp_client::ClientError>() {
                Some(ce) => eprintln!("error [{}]: {}", term(ce.code()), term(&ce.to_string())),
                None => eprintln!("error: {}", term(&format!("{e:#}"))),
            }
            std::process::ExitCode::from(2)
        }
    }
}

async fn client(notifications: bool) -> anyhow::Result<DmpClient> {
    match DmpClient::resume(config(notifications)).await? {
        Some(c) => Ok(c),
        None => bail!("not signed in: run `dmp login --server URL --username NAME`"),
    }
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        return Ok(s.trim_end_matches(['\r', '\n']).to_owned());
    }
    Ok(rpassword::prompt_password("Mot de passe : ")?)
}

/// Whether a character must not reach the terminal raw: controls (ESC, CR,
/// newline, C1...), DEL, and bidirectional overrides that reorder the line.
fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Text that came from a peer or the server (message, names, titles, file
/// names) made safe to print: one line, no escape sequence.
/// `DAY=HH:MM-HH:MM`, the day in French or English.
fn parse_slot(s: &str) -> Result<dmp_protocol::OfficeSlot, String> {
    use dmp_protocol::Weekday::*;
    let (day, span) = s
        .split_once('=')
        .ok_or("expected DAY=HH:MM-HH:MM, e.g. lundi=09:00-12:00")?;
    let day = match day.trim().to_lowercase().as_str() {
        "lundi" | "monday" => Monday,
        "mardi" | "tuesday" => Tuesday,
        "mercredi" | "wednesday" => Wednesday,
        "jeudi" | "thursday" => Thursday,
        "vendredi" | "friday" => Friday,
        "samedi" | "saturday" => Saturday,
        "dimanche" | "sunday" => Sunday,
        other => return Err(format!("unknown day {other:?}")),
    };
    let (start, end) = span
        .split_once('-')
        .ok_or("expected HH:MM-HH:MM after the day")?;
    Ok(dmp_protocol::OfficeSlot {
        day,
        start: start.trim().to_owned(),
        end: end.trim().to_owned(),
    })
}

fn term(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(is_dangerous) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_dangerous(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// JSON for the terminal: serde_json already escapes C0 controls; DEL, C1
/// controls and bidi overrides are escaped too (still valid JSON).
fn json_line(v: &impl serde::Serialize) -> anyhow::Result<String> {
    let raw = serde_json::to_string(v)?;
    Ok(raw
        .chars()
        .map(|c| {
            if is_dangerous(c) {
                format!("\\u{:04x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect())
}

fn line(m: &dmp_protocol::Message) -> String {
    let status = match m.status {
        dmp_protocol::MessageStatus::Sent => "✓",
        dmp_protocol::MessageStatus::Delivered => "✓",
        dmp_protocol::MessageStatus::Read => "✓✓",
    };
    let pending = if m.id.as_str().starts_with("local:") {
        " (en attente)"
    } else {
        ""
    };
    let verified = m.is_verified() || m.kind == dmp_protocol::MessageType::System;
    let urgent = match (m.metadata.is_urgent, verified) {
        (true, true) => " [URGENT]",
        (true, false) => " [urgent non vérifié]",
        _ => "",
    };
    let warning = match (&m.e2e_error, verified) {
        (_, true) => String::new(),
        (Some(code), false) => format!("[NON VÉRIFIÉ: {}] ", term(code)),
        (None, false) => "[NON VÉRIFIÉ: en clair, non signé] ".to_owned(),
    };
    let body = if m.deleted_at.is_some() {
        "(message supprimé)".to_owned()
    } else {
        term(&m.content).into_owned()
    };
    let files: Vec<String> = m
        .attachments
        .iter()
        .map(|a| term(&a.name).into_owned())
        .collect();
    let files = if files.is_empty() {
        String::new()
    } else {
        format!(" [pièces jointes: {}]", files.join(", "))
    };
    format!(
        "#{} {} {}{}: {}{}{} {}{}",
        m.seq,
        m.timestamp.format("%d/%m/%Y %H:%M"),
        term(&m.sender.name),
        urgent,
        warning,
        body,
        files,
        status,
        pending
    )
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let _ = CA_FILE.set(cli.ca_file.clone());
    match cli.command {
        Command::Login {
            server,
            username,
            password_stdin,
        } => {
            let password = zeroize::Zeroizing::new(read_password(password_stdin)?);
            let c = DmpClient::login(config(false), &server, &username, &password, true).await?;
            println!(
                "connecté en tant que {} ({}, {})",
                term(&c.user().name),
                c.user().id,
                c.user().kind
            );
            c.shutdown().await;
        }
        Command::Contexts => {
            let c = client(false).await?;
            for ctx in c.contexts().await? {
                let other = if ctx.context.patient.id == c.user().id {
                    &ctx.context.doctor
                } else {
                    &ctx.context.patient
                };
                let status = match ctx.session.as_ref().map(|s| s.status) {
                    Some(SessionStatus::Closed) => "\tclôturée",
                    Some(SessionStatus::Archived) => "\tarchivée",
                    _ => "",
                };
                println!(
                    "{}/{}\t{}\t{}\t{}\tnon lus: {}{status}",
                    ctx.context.kind,
                    term(ctx.context.id.as_str()),
                    term(&ctx.context.date),
                    term(&ctx.context.title),
                    term(&other.name),
                    ctx.unread_count
                );
            }
            c.shutdown().await;
        }
        Command::Close {
            context_type,
            context_id,
            reason,
        } => {
            let c = client(false).await?;
            c.close_conversation(context_type, &ContextId(context_id), reason)
                .await?;
            println!("conversation clôturée");
            c.shutdown().await;
        }
        Command::Reopen {
            context_type,
            context_id,
        } => {
            let c = client(false).await?;
            c.reopen_conversation(context_type, &ContextId(context_id))
                .await?;
            println!("conversation rouverte");
            c.shutdown().await;
        }
        Command::Hours { slots, tz, clear } => {
            let c = client(false).await?;
            let hours = if clear {
                c.clear_office_hours().await?;
                None
            } else if !slots.is_empty() {
                Some(
                    c.set_office_hours(&dmp_protocol::OfficeHours {
                        time_zone: tz,
                        slots,
                    })
                    .await?,
                )
            } else {
                c.office_hours().await?
            };
            match hours {
                None => println!("aucun horaire : les messages sont lus à tout moment"),
                Some(h) => {
                    println!("horaires ({})", h.time_zone);
                    for s in &h.slots {
                        println!("  {} {}–{}", s.day, s.start, s.end);
                    }
                }
            }
            c.shutdown().await;
        }
        Command::Templates {
            title,
            text,
            delete,
        } => {
            let c = client(false).await?;
            let list = if let Some(id) = delete {
                c.delete_template(&id).await?
            } else if let (Some(title), Some(text)) = (title, text) {
                c.save_template(dmp_protocol::ReplyTemplate {
                    id: String::new(),
                    title,
                    text,
                })
                .await?
            } else {
                c.templates().await?
            };
            if list.is_empty() {
                println!("aucun modèle de réponse");
            }
            for t in &list {
                println!(
                    "{}  {}\n    {}",
                    t.id,
                    term(&t.title),
                    term(&t.text).replace('\n', "\n    ")
                );
            }
            c.shutdown().await;
        }
        Command::Absence {
            from,
            until,
            note,
            clear,
        } => {
            let c = client(false).await?;
            if clear {
                c.clear_absence().await?;
                println!("absence terminée");
            } else if let Some(until) = until {
                let a = c
                    .set_absence(&dmp_protocol::Absence {
                        from: from.map_or_else(chrono::Utc::now, |f| f.with_timezone(&chrono::Utc)),
                        until: until.with_timezone(&chrono::Utc),
                        note,
                    })
                    .await?;
                println!(
                    "absent du {} au {}",
                    a.from
                        .with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M"),
                    a.until
                        .with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M")
                );
            } else {
                match c.absence().await? {
                    Some(a) => println!(
                        "absent du {} au {}{}",
                        a.from
                            .with_timezone(&chrono::Local)
                            .format("%Y-%m-%d %H:%M"),
                        a.until
                            .with_timezone(&chrono::Local)
                            .format("%Y-%m-%d %H:%M"),
                        a.note
                            .as_deref()
                            .map(|n| format!(" : {}", term(n)))
                            .unwrap_or_default()
                    ),
                    None => println!("aucune absence"),
                }
            }
            c.shutdown().await;
        }
        Command::AccessLog {
            context_type,
            context_id,
        } => {
            let c = client(false).await?;
            let log = c.access_log(context_type, &ContextId(context_id)).await?;
            for e in &log.entries {
                let what = match e.action {
                    AccessAction::Read => "a consulté la conversation",
                    AccessAction::Export => "a exporté la conversation",
                    AccessAction::Download => "a téléchargé une pièce jointe",
                    AccessAction::Close => "a clôturé la conversation",
                    AccessAction::Reopen => "a rouvert la conversation",
                    AccessAction::Archive => "a archivé la conversation",
                    AccessAction::Account => "a modifié le compte",
                };
                println!(
                    "{}\t{} ({})\t{what}{}",
                    e.at.with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M:%S"),
                    term(&e.who.name),
                    e.who.kind,
                    e.detail
                        .as_deref()
                        .map(|d| format!(" : {}", term(d)))
                        .unwrap_or_default()
                );
            }
            if log.truncated {
                println!("(entrées plus anciennes non affichées)");
            }
            c.shutdown().await;
        }
        Command::Archive {
            context_type,
            context_id,
        } => {
            let c = client(false).await?;
            c.archive_conversation(context_type, &ContextId(context_id))
                .await?;
            println!("conversation archivée");
            c.shutdown().await;
        }
        Command::Send {
            context_type,
            context_id,
            text,
            urgent,
            requires_response,
            category,
            attach,
        } => {
            let c = client(false).await?;
            c.flush_outbox().await?;
            let mut ids: Vec<AttachmentId> = vec![];
            for path in attach {
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .context("bad file name")?
                    .to_owned();
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                ids.push(c.upload(&name, bytes).await?.id);
            }
            let m = c
                .send(
                    context_type,
                    &ContextId(context_id),
                    &text,
                    MessageMetadata {
                        is_urgent: urgent,
                        requires_response,
                        category,
                        system: None,
                    },
                    ids,
                )
                .await?;
            let failed = match &m.local {
                None => {
                    println!("envoyé {} (#{})", m.id, m.seq);
                    None
                }
                Some(dmp_client::LocalState::Failed { code, message }) => {
                    Some(format!("refusé ({code}) : {}", term(message)))
                }
                Some(dmp_client::LocalState::WaitingForKeys { peer_name }) => {
                    println!(
                        "en attente de la première connexion de {} ({})",
                        term(peer_name),
                        m.client_message_id
                    );
                    None
                }
                Some(_) => {
                    println!("message mis en file d'attente ({})", m.client_message_id);
                    None
                }
            };
            c.shutdown().await;
            if let Some(why) = failed {
                anyhow::bail!(why);
            }
        }
        Command::History {
            context_type,
            context_id,
            limit,
        } => {
            let c = client(false).await?;
            let page = c
                .history(context_type, &ContextId(context_id), None, limit)
                .await?;
            if page.offline {
                eprintln!("(hors ligne : historique local)");
            }
            for m in &page.messages {
                println!("{}", line(m));
            }
            c.shutdown().await;
        }
        Command::Watch { seconds } => {
            let c = client(true).await?;
            c.contexts().await?;
            let mut events = c.subscribe();
            c.connect();
            let deadline =
                seconds.map(|s| tokio::time::Instant::now() + std::time::Duration::from_secs(s));
            loop {
                let next = async {
                    match deadline {
                        Some(d) => tokio::time::timeout_at(d, events.recv()).await.ok(),
                        None => Some(events.recv().await),
                    }
                };
                tokio::select! {
                    ev = next => match ev {
                        Some(Ok(ev)) => {
                            println!("{}", json_line(&ev)?);
                            if matches!(ev, ClientEvent::SessionExpired { .. }) {
                                break;
                            }
                        }
                        Some(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => eprintln!("({n} événements perdus)"),
                        Some(Err(_)) | None => break,
                    },
                    _ = tokio::signal::ctrl_c() => break,
                }
            }
            c.shutdown().await;
        }
        Command::Search { words, context } => {
            let c = client(false).await?;
            let scope = match context.as_deref() {
                Some(s) => {
                    let (k, i) = s.split_once('/').context("--context must be TYPE/ID")?;
                    Some((
                        k.parse::<ContextType>()
                            .map_err(|e| anyhow::anyhow!("{e}"))?,
                        ContextId(i.to_owned()),
                    ))
                }
                None => None,
            };
            for hit in c.search(&words, scope.as_ref().map(|(k, i)| (*k, i)))? {
                println!(
                    "{}/{} #{} {}: {}",
                    hit.message.context.kind,
                    term(hit.message.context.id.as_str()),
                    hit.message.seq,
                    term(&hit.message.sender.name),
                    term(&hit.snippet)
                );
            }
            c.shutdown().await;
        }
        Command::Export {
            context_type,
            context_id,
            format,
            output,
        } => {
            let c = client(false).await?;
            let fmt = match format.as_str() {
                "json" => ExportFormat::Json,
                "html" => ExportFormat::Html,
                _ => bail!("--format must be json or html"),
            };
            let doc = c.export(context_type, &ContextId(context_id), fmt).await?;
            match output {
                Some(p) => {
                    std::fs::write(&p, doc)?;
                    println!("exporté vers {}", p.display());
                }
                None => println!("{doc}"),
            }
            c.shutdown().await;
        }
        Command::Logout => {
            let c = client(false).await?;
            c.logout().await?;
            println!("déconnecté ; données locales et trousseau effacés");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use dmp_protocol::*;

    fn message(content: &str, name: &str) -> Message {
        serde_json::from_value(serde_json::json!({
            "id": "msg_1", "content": content, "type": "text",
            "sender": {"id": "medecin_456", "type": "medecin", "name": name},
            "recipient": {"id": "patient_123", "type": "patient", "name": "Jean Dupont"},
            "context": {"type": "ordonnance", "id": "ord_789"},
            "timestamp": "2026-01-12T10:00:00Z", "status": "sent", "attachments": [],
            "metadata": {"isUrgent": true, "requiresResponse": false},
            "clientMessageId": "c1", "sessionId": "s1", "seq": 1
        }))
        .unwrap()
    }

    #[test]
    fn peer_text_cannot_drive_the_terminal() {
        let mut m = message(
            "ok\u{1b}[2J\u{1b}]0;pwned\u{7}\nFAUX: #2 Dr. X: prenez 10 comprimés\r\u{9b}31m\u{202e}",
            "Dr.\u{1b}[31m Evil\n",
        );
        m.encrypted = Some(true);
        let l = line(&m);
        assert!(!l.chars().any(is_dangerous), "{l:?}");
        assert!(l.contains("\\u{1b}[2J") && l.contains("\\nFAUX") && l.contains("\\u{202e}"));
        assert_eq!(l.lines().count(), 1);
        assert!(l.contains("[URGENT]") && !l.contains("NON VÉRIFIÉ"));
        let j = json_line(&serde_json::json!({"t": "a\u{9b}b\u{1b}c\u{202e}"})).unwrap();
        assert!(!j.chars().any(is_dangerous), "{j}");
        let back: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(
            back["t"], "a\u{9b}b\u{1b}c\u{202e}",
            "still the same JSON value"
        );
    }

    #[test]
    fn unverified_messages_are_marked_and_not_urgent() {
        let mut clear = message("Rappelez ce numéro", "Dr. Sophie Martin");
        clear.encrypted = Some(false);
        let l = line(&clear);
        assert!(l.contains("[NON VÉRIFIÉ: en clair, non signé]"), "{l}");
        assert!(!l.contains("[URGENT]") && l.contains("urgent non vérifié"));
        let mut forged = message("", "Dr. Sophie Martin");
        forged.encrypted = Some(true);
        forged.e2e_error = Some("E2E_BAD_SIGNATURE".into());
        assert!(line(&forged).contains("[NON VÉRIFIÉ: E2E_BAD_SIGNATURE]"));
    }
}
