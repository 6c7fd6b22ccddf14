//! The `daily_briefing` prompt: a ready-made request that uses the date, weather and notes tools.

use rmcp::{
    ErrorData,
    model::{
        GetPromptRequestParams, GetPromptResult, ListPromptsResult, Prompt, PromptArgument,
        PromptMessage, Role,
    },
};

/// Name of the prompt template.
pub const BRIEFING_PROMPT: &str = "daily_briefing";

pub(super) fn list() -> ListPromptsResult {
    ListPromptsResult::with_all_items(vec![
        Prompt::new(
            BRIEFING_PROMPT,
            Some("A short daily briefing: today's date, the weather in a city, and your notes."),
            Some(vec![
                PromptArgument::new("city")
                    .with_title("City")
                    .with_description("City for the weather part of the briefing.")
                    .with_required(true),
            ]),
        )
        .with_title("Daily briefing"),
    ])
}

pub(super) fn get(request: &GetPromptRequestParams) -> Result<GetPromptResult, ErrorData> {
    if request.name != BRIEFING_PROMPT {
        return Err(ErrorData::invalid_params(
            format!("no prompt named {}", request.name),
            None,
        ));
    }
    let city = request
        .arguments
        .as_ref()
        .and_then(|args| args.get("city"))
        .and_then(|city| city.as_str())
        .map(str::trim)
        .filter(|city| !city.is_empty())
        .ok_or_else(|| ErrorData::invalid_params("argument `city` is required", None))?;
    Ok(GetPromptResult::new(vec![PromptMessage::new_text(
        Role::User,
        format!(
            "Give me a short daily briefing. Use get_current_date for today's date, get_weather \
             for {city}, and list_notes for my notes; then summarise them in three sentences."
        ),
    )])
    .with_description(format!("Daily briefing for {city}")))
}
