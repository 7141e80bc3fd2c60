//! Conversation export from the client side, from the decrypted local
//! cache: JSON (the seed's message objects) and a printable HTML document
//! for filing in the patient record. Every value is HTML-escaped.

use chrono::{DateTime, Utc};
use dmp_protocol::*;
use html_escape::encode_text as esc;
use std::fmt::Write;

/// The JSON export.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Export<'a> {
    /// When it was made.
    pub exported_at: DateTime<Utc>,
    /// Who made it.
    pub exported_by: &'a User,
    /// The record.
    pub context: &'a Context,
    /// Every message in `seq` order.
    pub messages: &'a [Message],
}

fn status_fr(s: MessageStatus) -> &'static str {
    match s {
        MessageStatus::Sent => "envoyé ✓",
        MessageStatus::Delivered => "distribué ✓",
        MessageStatus::Read => "lu ✓✓",
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%d/%m/%Y %H:%M UTC").to_string()
}

/// The printable document.
pub fn html(context: &Context, messages: &[Message], by: &User, now: DateTime<Utc>) -> String {
    let kind = match context.kind {
        ContextType::Ordonnance => "Ordonnance",
        ContextType::Examen => "Examen",
    };
    let mut out = String::with_capacity(4096 + messages.len() * 400);
    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Messagerie DMP — {title}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;color:#111827}}
h1{{font-size:1.4rem}} .meta{{color:#4b5563;font-size:.9rem}}
table.info td{{padding:.15rem .6rem .15rem 0;vertical-align:top}}
.msg{{border:1px solid #e5e7eb;border-radius:.5rem;padding:.6rem .8rem;margin:.6rem 0;page-break-inside:avoid}}
.patient{{border-left:4px solid #3b82f6}} .medecin{{border-left:4px solid #6b7280}}
.urgent{{border-color:#dc2626}} .head{{font-size:.85rem;color:#4b5563}} .content{{white-space:pre-wrap;margin-top:.3rem}}
.deleted{{font-style:italic;color:#6b7280}}
.unverified{{border:2px dashed #b45309;background:#fffbeb}} .warning{{color:#92400e;font-weight:600;margin-top:.3rem}}
@media print{{body{{margin:0}}}}
</style></head><body>
<h1>Messagerie sécurisée — {title}</h1>
<table class="info">
<tr><td>Document</td><td>{kind} {id} du {date}</td></tr>
<tr><td>Résumé</td><td>{summary}</td></tr>
<tr><td>Patient</td><td>{patient} ({patient_id})</td></tr>
<tr><td>Médecin</td><td>{doctor} ({doctor_id})</td></tr>
<tr><td>Messages</td><td>{count}</td></tr>
<tr><td>Exporté le</td><td>{now} par {by}</td></tr>
</table>
"#,
        title = esc(&context.title),
        kind = kind,
        id = esc(context.id.as_str()),
        date = esc(&context.date),
        summary = esc(&context.summary),
        patient = esc(&context.patient.name),
        patient_id = esc(context.patient.id.as_str()),
        doctor = esc(&context.doctor.name),
        doctor_id = esc(context.doctor.id.as_str()),
        count = messages.len(),
        now = when(now),
        by = esc(&by.name),
    );
    for m in messages {
        // System lines come from the server itself, not from a peer.
        let unverified = !m.is_verified() && m.kind != MessageType::System;
        let mut classes = vec!["msg", m.sender.kind.as_str()];
        if unverified {
            classes.push("unverified");
        } else if m.metadata.is_urgent {
            classes.push("urgent");
        }
        let mut flags = String::new();
        if m.metadata.is_urgent && unverified {
            flags.push_str(" · Urgent (non vérifié)");
        } else if m.metadata.is_urgent {
            flags.push_str(" · <strong>Urgent</strong>");
        }
        if m.metadata.requires_response {
            flags.push_str(" · Réponse attendue");
        }
        let _ = write!(
            out,
            "<div class=\"{}\"><div class=\"head\">#{} · {} · {} → {} · {}{}</div>",
            classes.join(" "),
            m.seq,
            when(m.timestamp),
            esc(&m.sender.name),
            esc(&m.recipient.name),
            status_fr(m.status),
            flags
        );
        if unverified {
            let why = match &m.e2e_error {
                Some(code) => format!(
                    "⚠ NON VÉRIFIÉ — ce message n'a pas passé la vérification de bout en bout ({}) : son auteur et son contenu ne sont pas garantis.",
                    esc(code)
                ),
                None => "⚠ NON VÉRIFIÉ — message en clair, non chiffré ni signé de bout en bout : son auteur et son contenu ne sont pas garantis.".to_owned(),
            };
            let _ = write!(out, "<div class=\"warning\" role=\"alert\">{why}</div>");
        }
        if let Some(d) = m.deleted_at {
            let _ = write!(
                out,
                "<div class=\"content deleted\">Message supprimé le {}</div>",
                when(d)
            );
        } else {
            let _ = write!(out, "<div class=\"content\">{}</div>", esc(&m.content));
        }
        if !m.attachments.is_empty() {
            out.push_str("<ul>");
            for a in &m.attachments {
                let _ = write!(
                    out,
                    "<li>Pièce jointe : {} ({}, {} octets, SHA-256 {})</li>",
                    esc(&a.name),
                    esc(&a.mime_type),
                    a.size,
                    esc(&a.sha256)
                );
            }
            out.push_str("</ul>");
        }
        out.push_str("</div>\n");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn participant(id: &str, kind: UserType, name: &str) -> Participant {
        Participant {
            id: UserId::new(id),
            kind,
            name: name.into(),
        }
    }

    fn message(seq: u64, content: &str, encrypted: Option<bool>, error: Option<&str>) -> Message {
        Message {
            id: MessageId::new(format!("m{seq}")),
            content: content.into(),
            kind: MessageType::Text,
            sender: participant("medecin_456", UserType::Medecin, "Dr. Sophie Martin"),
            recipient: participant("patient_123", UserType::Patient, "Jean Dupont"),
            context: ContextRef {
                kind: ContextType::Ordonnance,
                id: ContextId::new("ord_789"),
            },
            timestamp: Utc::now(),
            status: MessageStatus::Read,
            attachments: vec![],
            metadata: MessageMetadata {
                is_urgent: true,
                requires_response: false,
                category: None,
                system: None,
            },
            client_message_id: ClientMessageId::new(format!("c{seq}")),
            session_id: SessionId::new("s1"),
            seq,
            delivered_at: None,
            read_at: None,
            deleted_at: None,
            encrypted,
            e2e_error: error.map(Into::into),
        }
    }

    #[test]
    fn unverified_messages_are_marked_and_lose_their_urgent_flag() {
        let context: Context = serde_json::from_value(serde_json::json!({
            "type": "ordonnance", "id": "ord_789", "title": "Ordonnance du 12/01/2026",
            "date": "2026-01-12", "summary": "",
            "patient": {"id": "patient_123", "type": "patient", "name": "Jean Dupont"},
            "doctor": {"id": "medecin_456", "type": "medecin", "name": "Dr. Sophie Martin"}
        }))
        .unwrap();
        let by: User = serde_json::from_value(serde_json::json!({
            "id": "patient_123", "type": "patient", "name": "Jean Dupont", "username": "jean.dupont"
        }))
        .unwrap();
        let doc = html(
            &context,
            &[
                message(1, "chiffré et signé", Some(true), None),
                message(2, "<b>en clair</b>", Some(false), None),
                message(3, "", Some(true), Some("E2E_BAD_SIGNATURE")),
            ],
            &by,
            Utc::now(),
        );
        let blocks: Vec<&str> = doc.split("<div class=\"msg ").skip(1).collect();
        assert_eq!(blocks.len(), 3);
        assert!(
            !blocks[0].contains("NON VÉRIFIÉ") && blocks[0].contains("<strong>Urgent</strong>")
        );
        assert!(blocks[1].starts_with("medecin unverified"), "{}", blocks[1]);
        assert!(blocks[1].contains("NON VÉRIFIÉ — message en clair"));
        assert!(
            blocks[1].contains("Urgent (non vérifié)") && !blocks[1].contains("<strong>Urgent")
        );
        assert!(
            blocks[1].contains("&lt;b&gt;en clair&lt;/b&gt;"),
            "still escaped"
        );
        assert!(blocks[2].contains("NON VÉRIFIÉ") && blocks[2].contains("E2E_BAD_SIGNATURE"));
    }
}
