//! The `ServerHandler` of [`Tools`]: server info and capabilities; tool calls go to the routers of the
//! tool families, resources and prompts to their own modules.

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestMethod, CallToolRequestParams, CancelTaskMethod, CompleteRequestMethod,
        ConstString, CustomRequest, CustomResult, DiscoverRequestMethod, ErrorCode,
        GetPromptRequestMethod, GetPromptRequestParams, GetPromptResponse, GetSkillRequestMethod,
        GetTaskMethod, Implementation, InitializeResultMethod, ListPromptsRequestMethod,
        ListPromptsResult, ListResourceTemplatesRequestMethod, ListResourcesRequestMethod,
        ListResourcesResult, ListSkillsRequestMethod, ListToolsRequestMethod,
        PaginatedRequestParams, PingRequestMethod, ReadResourceDirectoryRequestMethod,
        ReadResourceRequestMethod, ReadResourceRequestParams, ReadResourceResponse,
        ServerCapabilities, ServerConfig, SetLevelRequestMethod, SubscribeRequestMethod,
        SubscriptionsListenRequestMethod, UnsubscribeRequestMethod, UpdateTaskMethod,
    },
    service::RequestContext,
    tool_handler,
};

use super::{Tools, prompts, resources};

/// Every method rmcp reads into a typed client request. A request for one of them that arrives as
/// a custom request had params rmcp could not read as that method's.
const TYPED_METHODS: [&str; 21] = [
    PingRequestMethod::VALUE,
    InitializeResultMethod::VALUE,
    DiscoverRequestMethod::VALUE,
    CompleteRequestMethod::VALUE,
    SetLevelRequestMethod::VALUE,
    GetPromptRequestMethod::VALUE,
    ListPromptsRequestMethod::VALUE,
    ListResourcesRequestMethod::VALUE,
    ListResourceTemplatesRequestMethod::VALUE,
    ReadResourceRequestMethod::VALUE,
    SubscriptionsListenRequestMethod::VALUE,
    SubscribeRequestMethod::VALUE,
    UnsubscribeRequestMethod::VALUE,
    CallToolRequestMethod::VALUE,
    ListToolsRequestMethod::VALUE,
    GetTaskMethod::VALUE,
    UpdateTaskMethod::VALUE,
    CancelTaskMethod::VALUE,
    ListSkillsRequestMethod::VALUE,
    GetSkillRequestMethod::VALUE,
    ReadResourceDirectoryRequestMethod::VALUE,
];

/// -32602 for a known method whose params did not fit (rmcp's default says "method not found"),
/// -32601 for a method nobody serves.
pub(crate) fn custom_request_error(request: &CustomRequest) -> ErrorData {
    if !TYPED_METHODS.contains(&request.method.as_str()) {
        // Said in words, the method quoted: a bare method name as the message was empty for `""`
        // (found by `tests/fuzz.rs`).
        return ErrorData::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("Method not found: {:?}", request.method),
            None,
        );
    }
    // For tool calls, the most common case, say what did not fit.
    let reason = (request.method == CallToolRequestMethod::VALUE)
        .then(|| {
            let params = request.params.clone().unwrap_or_default();
            serde_json::from_value::<CallToolRequestParams>(params).err()
        })
        .flatten()
        .map_or_else(String::new, |error| format!(": {error}"));
    ErrorData::invalid_params(
        format!("Invalid params for {}{reason}", request.method),
        None,
    )
}

#[tool_handler(router = self.shared.router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(
            Implementation::new("portcullis-mcp-tools", env!("CARGO_PKG_VERSION"))
                .with_title("Portcullis tools"),
        )
        .with_instructions(if self.shared.graph.is_some() {
            "Tools act for the signed-in user only. delete_note asks the user to confirm through \
             elicitation. get_my_profile and list_my_events read Microsoft Graph with a token \
             exchanged for the user; when the user has not yet consented, they ask the user to open \
             the provider's consent page. Read portcullis://server/about for what each tool does \
             with the user's data."
        } else {
            "Tools act for the signed-in user only. delete_note asks the user to confirm through \
             elicitation. Read portcullis://server/about for what each tool does with the user's data."
        })
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(resources::list())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resources::read(&request.uri, &self.shared.router).map(Into::into)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(prompts::list())
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        prompts::get(&request).map(Into::into)
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        Err(custom_request_error(&request))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn known_methods_with_unreadable_params_are_invalid_params() {
        let call = CustomRequest::new(
            "tools/call",
            Some(json!({ "name": "get_random_number", "arguments": [1, 6] })),
        );
        let error = custom_request_error(&call);
        assert_eq!(error.code, ErrorCode::INVALID_PARAMS);
        assert!(error.message.contains("tools/call: "), "{}", error.message);
        let list = CustomRequest::new("tools/list", Some(json!({ "cursor": 5 })));
        assert_eq!(custom_request_error(&list).code, ErrorCode::INVALID_PARAMS);
        let unknown = CustomRequest::new("tools/frobnicate", None);
        assert_eq!(
            custom_request_error(&unknown).code,
            ErrorCode::METHOD_NOT_FOUND
        );
    }

    /// Regression (found by `tests/fuzz.rs`): an unknown method's error has a message even when the
    /// method is the empty string.
    #[test]
    fn unknown_methods_are_named_in_a_message() {
        for (method, message) in [
            ("", r#"Method not found: """#),
            (
                "tools/frobnicate",
                r#"Method not found: "tools/frobnicate""#,
            ),
        ] {
            let error = custom_request_error(&CustomRequest::new(method, None));
            assert_eq!(error.code, ErrorCode::METHOD_NOT_FOUND);
            assert_eq!(error.message, message);
        }
    }
}
