//! Tool arguments that fail as the MCP specification asks.
//!
//! rmcp's own `Parameters<T>` turns a deserialization failure into a *tool result* with `isError: true`.
//! The specification says malformed arguments are a protocol error (JSON-RPC `-32602 invalid params`):
//! the call was never valid, so the model should not be told the tool ran. This wrapper has the same
//! name and shape — the `#[tool]` macro finds it by name and derives the input schema from `T` — but
//! reports invalid arguments as that protocol error.

use rmcp::{
    ErrorData,
    handler::server::{common::FromContextPart, tool::ToolCallContext},
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

/// Typed tool arguments; bad input is a JSON-RPC invalid-params error.
pub struct Parameters<T>(pub T);

impl<S, T: DeserializeOwned> FromContextPart<ToolCallContext<'_, S>> for Parameters<T> {
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, ErrorData> {
        let arguments = context.arguments.take().unwrap_or_default();
        serde_json::from_value(serde_json::Value::Object(arguments))
            .map(Parameters)
            .map_err(|error| ErrorData::invalid_params(format!("invalid arguments: {error}"), None))
    }
}

impl<T: JsonSchema> JsonSchema for Parameters<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}
