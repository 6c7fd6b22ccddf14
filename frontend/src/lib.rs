//! Browser entry point: hydrates the islands of the server-rendered page (see `app`'s crate docs).
//! Everything else lives in `app`.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
    app::mark_hydrated();
}
