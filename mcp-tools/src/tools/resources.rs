//! The `about` resource: what each tool may do with the user's data.

use rmcp::{
    ErrorData,
    handler::server::router::tool::ToolRouter,
    model::{ListResourcesResult, ReadResourceResult, Resource, ResourceContents},
};

use super::Tools;

/// URI of the resource that describes this server.
pub const ABOUT_URI: &str = "portcullis://server/about";

pub(super) fn list() -> ListResourcesResult {
    ListResourcesResult::with_all_items(vec![
        Resource::new(ABOUT_URI, "about")
            .with_title("About this server")
            .with_description("The tools of this server and what each may do with your data.")
            .with_mime_type("text/markdown"),
    ])
}

pub(super) fn read(uri: &str, router: &ToolRouter<Tools>) -> Result<ReadResourceResult, ErrorData> {
    if uri != ABOUT_URI {
        return Err(ErrorData::resource_not_found(
            format!("no resource {uri}"),
            None,
        ));
    }
    Ok(ReadResourceResult::new(vec![ResourceContents::text(
        about(router),
        ABOUT_URI,
    )]))
}

/// The `about` resource: every tool with its declared effects, rendered from the live tool list so
/// it cannot drift from what `tools/list` says.
fn about(router: &ToolRouter<Tools>) -> String {
    let mut out = String::from(
        "# Portcullis MCP tools\n\nEvery call acts for the user whose delegated access token it \
         carries (tenant + object id); no argument can select another user's data.\n\n",
    );
    for tool in router.list_all() {
        let annotations = tool.annotations.clone().unwrap_or_default();
        let effect = if annotations.read_only_hint == Some(true) {
            "reads only; changes nothing"
        } else if annotations.destructive_hint == Some(true) {
            "destructive: removes your data, and asks you to confirm first"
        } else {
            "writes your data (adds, never removes)"
        };
        out.push_str(&format!(
            "- `{}`: {} ({effect})\n",
            tool.name,
            tool.description.as_deref().unwrap_or_default()
        ));
    }
    out.push_str(
        "\nNotes are stored per user in this server's database. Weather comes from an offline demo \
         provider unless the operator configured a real one.\n",
    );
    if router.has_route("get_my_profile") {
        out.push_str(
            "\nThe Microsoft Graph tools never forward your token: this server exchanges it at your \
             identity provider for a Graph token for you, with only the one permission a tool needs \
             (`User.Read` for the profile, `Calendars.Read` for the calendar). If you have not granted \
             that permission yet, you are sent to your provider's consent page.\n",
        );
    }
    out
}
