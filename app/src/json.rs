//! One JSON reader for everything the browser decodes.
//!
//! Server functions' answers are decoded with `serde_json::from_slice` (server_fn's `Json`), while
//! Leptos' default resource codec reads the server-rendered values with `serde_json::from_str`. The
//! two readers are different types, so the WASM bundle carried two copies of every `Deserialize` impl
//! the chat needs (conversation views, forms, results): 18 KB of the gzipped bundle. Resources built with
//! [`resource`] and the live updates read bytes too, leaving one copy.

use leptos::prelude::*;
use leptos::server::codee::{Decoder, Encoder};
use serde::{Serialize, de::DeserializeOwned};

/// Leptos' JSON resource codec, decoding through `serde_json::from_slice` like the server functions.
pub struct SliceJson;

impl<T: Serialize> Encoder<T> for SliceJson {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(value: &T) -> Result<String, Self::Error> {
        serde_json::to_string(value)
    }
}

impl<T: DeserializeOwned> Decoder<T> for SliceJson {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(text: &str) -> Result<T, Self::Error> {
        from_text(text)
    }
}

/// Decodes JSON text the way server functions' answers are decoded (see the module docs).
pub fn from_text<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    serde_json::from_slice(text.as_bytes())
}

/// `Resource::new` with [`SliceJson`] as its codec.
#[track_caller]
pub fn resource<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Resource<T, SliceJson>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: PartialEq + Clone + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}
