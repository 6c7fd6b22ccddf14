//! The browser side of live updates: an `EventSource` on `/api/chat/<id>/events`. Its first event is
//! the whole conversation view (`state`), the following ones only what changed (`delta`, applied with
//! [`super::delta::apply`]). The browser reconnects on its own after a drop and sends the last event's
//! id, so the server sends only what changed meanwhile (or the whole view when it cannot). A delta
//! that does not fit what is shown opens a new stream, which starts with the whole view again. On the
//! server this does nothing: the page is rendered from the stored state.

use leptos::prelude::*;

use super::ConversationView;

/// Keeps `target` equal to the conversation's latest state while the calling component lives.
pub fn follow(id: String, target: RwSignal<ConversationView>) {
    #[cfg(feature = "hydrate")]
    {
        let follower = std::rc::Rc::new(browser::Follower::new(id, target));
        follower.open();
        // The stream lives exactly as long as the component: closed and dropped on cleanup.
        let held = send_wrapper::SendWrapper::new(follower);
        on_cleanup(move || held.close());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (id, target);
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::{
        cell::RefCell,
        rc::{Rc, Weak},
    };

    use leptos::prelude::*;
    use wasm_bindgen::{JsCast, closure::Closure};
    use web_sys::{EventSource, MessageEvent};

    use super::super::{
        ConversationView,
        delta::{Delta, apply},
    };

    type Listener = Closure<dyn FnMut(MessageEvent)>;

    pub struct Follower {
        id: String,
        target: RwSignal<ConversationView>,
        open: RefCell<Option<(EventSource, Listener, Listener)>>,
    }

    impl Follower {
        pub fn new(id: String, target: RwSignal<ConversationView>) -> Self {
            Self {
                id,
                target,
                open: RefCell::new(None),
            }
        }

        /// Opens a new stream (closing the current one): it starts with the whole view.
        pub fn open(self: &Rc<Self>) {
            self.close();
            let Ok(source) = EventSource::new(&format!("/api/chat/{}/events", self.id)) else {
                return;
            };
            let target = self.target;
            let on_state = Listener::new(move |event: MessageEvent| {
                if let Some(data) = event.data().as_string()
                    && let Ok(view) = crate::json::from_text::<ConversationView>(&data)
                {
                    target.set(view);
                }
            });
            let this: Weak<Self> = Rc::downgrade(self);
            let on_delta = Listener::new(move |event: MessageEvent| {
                let deltas = event
                    .data()
                    .as_string()
                    .and_then(|data| crate::json::from_text::<Vec<Delta>>(&data).ok());
                let fits = deltas.is_some_and(|deltas| {
                    target
                        .try_update(|shown| apply(shown, &deltas).is_ok())
                        .unwrap_or(false)
                });
                if !fits && let Some(this) = this.upgrade() {
                    // Not from inside this listener, which `open` drops.
                    leptos::task::spawn_local(async move { this.open() });
                }
            });
            let listening = ["state", "delta"]
                .into_iter()
                .zip([&on_state, &on_delta])
                .all(|(name, listener)| {
                    source
                        .add_event_listener_with_callback(name, listener.as_ref().unchecked_ref())
                        .is_ok()
                });
            if !listening {
                source.close();
                return;
            }
            *self.open.borrow_mut() = Some((source, on_state, on_delta));
        }

        pub fn close(&self) {
            if let Some((source, ..)) = self.open.borrow_mut().take() {
                source.close();
            }
        }
    }
}
