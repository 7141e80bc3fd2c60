//! The caller's DMP records with their messaging state.

use super::Json;
use crate::error::AppResult;
use crate::state::{AppState, AuthedUser};
use crate::store::{ContextRecord, UserRecord};
use axum::extract::State;
use dmp_protocol::*;
use std::collections::HashMap;
use std::sync::Arc;

/// The public view of a stored context, given its participants.
pub fn context_view(
    c: &ContextRecord,
    people: &HashMap<UserId, Arc<UserRecord>>,
) -> Option<Context> {
    let patient = people.get(&c.patient_id)?;
    let doctor = people.get(&c.doctor_id)?;
    Some(Context {
        kind: c.kind,
        id: c.id.clone(),
        title: c.title.clone(),
        date: c.date.clone(),
        summary: c.summary.clone(),
        patient: patient.participant(),
        doctor: doctor.participant(),
        allowed_actions: c.kind.allowed_actions().to_vec(),
    })
}

/// The caller's ordonnances and examens, newest first, each with its session, unread count,
/// newest message time, whether an urgent message to the caller is unread, and the
/// patient's question that waits for the doctor's answer (with its due time).
#[utoipa::path(get, path = "/api/contexts", tag = "contexts", security(("bearer" = [])),
    responses((status = 200, body = Vec<ContextSummary>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    who: AuthedUser,
) -> AppResult<Json<Vec<ContextSummary>>> {
    let sessions: HashMap<SessionId, Session> = state
        .store
        .sessions_of(who.id())
        .await?
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    let marks = state.store.inbox_marks(who.id()).await?;
    let contexts = state.directory.contexts_of(who.id()).await?;
    let mut ids: Vec<UserId> = contexts
        .iter()
        .flat_map(|c| [c.patient_id.clone(), c.doctor_id.clone()])
        .collect();
    ids.sort();
    ids.dedup();
    let people: HashMap<UserId, Arc<UserRecord>> = state
        .directory
        .users(&ids)
        .await?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    let now = state.now();
    let answer_within = chrono::Duration::hours(i64::from(state.config.limits.answer_within_hours));
    let mut out = Vec::with_capacity(contexts.len());
    // The absence of each of the patient's doctors, shown before they write.
    // The absence and office hours of each of the patient's doctors, shown
    // before they write.
    let mut absences: HashMap<UserId, (Option<Absence>, Option<OfficeHours>)> = HashMap::new();
    for c in contexts.iter().filter(|c| c.patient_id == *who.id()) {
        if !absences.contains_key(&c.doctor_id) {
            let a = state.directory.absence_now(&c.doctor_id, now).await?;
            let h = state.directory.office_hours(&c.doctor_id).await?;
            absences.insert(
                c.doctor_id.clone(),
                (a.map(|a| a.1.clone()), h.map(|h| (*h).clone())),
            );
        }
    }
    for c in contexts.iter() {
        let Some(context) = context_view(c, &people) else {
            continue;
        };
        let session = sessions
            .get(&Session::id_for(c.kind, &c.id, &c.patient_id, &c.doctor_id))
            .cloned();
        let unread_count = session
            .as_ref()
            .map(|s| {
                if c.patient_id == *who.id() {
                    s.unread_count.patient
                } else {
                    s.unread_count.doctor
                }
            })
            .unwrap_or(0);
        let mark = session
            .as_ref()
            .and_then(|s| marks.get(&s.id))
            .copied()
            .unwrap_or_default();
        out.push(ContextSummary {
            context,
            session,
            unread_count,
            last_message_at: mark.last_message_at,
            has_urgent_unread: mark.has_urgent_unread,
            awaiting_answer: mark
                .awaiting
                .map(|a| AwaitingAnswer::new(a.since, answer_within, now, a.urgent, a.category)),
            doctor_absence: absences.get(&c.doctor_id).and_then(|a| a.0.clone()),
            doctor_office_hours: absences.get(&c.doctor_id).and_then(|a| a.1.clone()),
        });
    }
    Ok(Json(out))
}
