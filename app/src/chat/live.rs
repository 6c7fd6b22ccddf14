//! The browser side of live updates: an `EventSource` on `/api/chat/<id>/events` whose `state` events
//! carry the whole conversation view. The browser reconnects on its own after a drop, and the first
//! event after (re)connecting is the current state, so nothing is missed. On the server this does
//! nothing: the page is rendered from the stored state.

use leptos::prelude::*;

use super::ConversationView;

/// Keeps `target` equal to the conversation's latest state while the calling component lives.
pub fn follow(id: String, target: RwSignal<Option<ConversationView>>) {
    #[cfg(feature = "hydrate")]
    {
        use send_wrapper::SendWrapper;
        use wasm_bindgen::{JsCast, closure::Closure};
        use web_sys::{EventSource, MessageEvent};

        let Ok(source) = EventSource::new(&format!("/api/chat/{id}/events")) else {
            return;
        };
        let on_state = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(data) = event.data().as_string()
                && let Ok(view) = serde_json::from_str::<ConversationView>(&data)
            {
                target.set(Some(view));
            }
        });
        if source
            .add_event_listener_with_callback("state", on_state.as_ref().unchecked_ref())
            .is_err()
        {
            source.close();
            return;
        }
        // Both live exactly as long as the component: closed and dropped on cleanup.
        let held = SendWrapper::new((source, on_state));
        on_cleanup(move || held.0.close());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (id, target);
}
