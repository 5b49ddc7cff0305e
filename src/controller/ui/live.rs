//! How a region of a page stays current: the one place that decides it.
//!
//! Today a live region polls its own URL (htmx `every 2s`) and swaps itself with the
//! answer, which renders the region again (with these attributes, so polling goes on).
//! When the controller's event streams land (`/api/events`, `/api/job/{id}/events`),
//! this function changes to listen to them instead; the pages do not.

use maud::{html, Markup};

/// How often a polled region asks again.
pub const POLL: &str = "every 2s";

/// A region with id `id` that keeps itself current from `url`, which answers the region.
pub fn region(id: &str, url: &str, content: Markup) -> Markup {
    html! {
        div id=(id) hx-get=(url) hx-trigger=(POLL) hx-swap="outerHTML" { (content) }
    }
}

/// A region that fills itself from `url` once the page has loaded, then keeps current.
pub fn deferred(id: &str, url: &str) -> Markup {
    let trigger = format!("load, {POLL}");
    html! {
        div id=(id) hx-get=(url) hx-trigger=(trigger) hx-swap="outerHTML" {
            p.muted { "Loading…" }
        }
    }
}
