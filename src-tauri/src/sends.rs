//! Honest sends from the window: a refused message is retried with the same
//! `clientMessageId` or discarded (docs/desktop-ipc.md, "Honest sends"); the
//! states themselves come from the client core's outbox (`dmp_client::outbox`).

use crate::{client, CmdResult, Desktop};
use dmp_client::UiMessage;
use dmp_protocol::ClientMessageId;
use tauri::State;

/// Sends a failed (or waiting) message again, same `clientMessageId`.
#[tauri::command]
pub(crate) async fn retry_send(
    state: State<'_, Desktop>,
    client_message_id: ClientMessageId,
) -> CmdResult<UiMessage> {
    Ok(client(&state).await?.retry_send(&client_message_id).await?)
}

/// Drops a failed or waiting message.
#[tauri::command]
pub(crate) async fn discard_send(
    state: State<'_, Desktop>,
    client_message_id: ClientMessageId,
) -> CmdResult<()> {
    Ok(client(&state).await?.discard_send(&client_message_id)?)
}
