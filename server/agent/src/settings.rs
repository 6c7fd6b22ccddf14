//! The agent's typed settings: the model it talks to and the loop's limits. Front-ends embed these in
//! their own configuration (the web server reads them from `APP_MODEL__*` and `APP_AGENT__*`).

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use service_kit::config::secs;
use url::Url;

/// Which kind of model API the settings describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// api.openai.com (or `base_url`), bearer API key.
    Openai,
    /// Azure OpenAI: `base_url` is the resource endpoint, plus `deployment` and `api_version`.
    Azure,
    /// Any OpenAI-compatible server at `base_url` (Ollama, vLLM, llama.cpp server).
    Compatible,
}

/// The chat model. Nothing set: a front-end may supply a development model's URL.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ModelSettings {
    /// `openai`, `azure` or `compatible` (the default when `base_url` is set).
    pub provider: Option<Provider>,
    /// e.g. `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` (Ollama), or the Azure resource
    /// endpoint `https://<resource>.openai.azure.com`.
    pub base_url: Option<Url>,
    /// The API key; never printed (its `Debug` is redacted).
    pub api_key: Option<SecretString>,
    /// The model name sent with each request (OpenAI-compatible servers).
    pub model: String,
    /// Azure OpenAI deployment name.
    pub deployment: Option<String>,
    /// Azure OpenAI API version.
    pub api_version: String,
    /// Longest wait for the model's next streamed piece.
    #[serde(rename = "timeout_secs", deserialize_with = "secs")]
    pub timeout: Duration,
    /// Attempts per model turn on a timeout or a cut-off stream (429 and 5xx are also retried, with
    /// backoff, inside each attempt).
    pub max_attempts: u32,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            provider: None,
            base_url: None,
            api_key: None,
            model: "portcullis-dev".to_owned(),
            deployment: None,
            api_version: "2024-10-21".to_owned(),
            timeout: Duration::from_secs(60),
            max_attempts: 3,
        }
    }
}

impl ModelSettings {
    /// A model is configured (a front-end's development model is not needed).
    pub fn is_configured(&self) -> bool {
        self.provider.is_some() || self.base_url.is_some()
    }
}

/// The loop's limits and instructions.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AgentSettings {
    /// Model turns per user message before the agent stops.
    pub step_limit: u32,
    /// How long an elicitation request waits for the user before it is cancelled.
    #[serde(rename = "elicitation_timeout_secs", deserialize_with = "secs")]
    pub elicitation_timeout: Duration,
    /// Longest tool call (elicitation time not counted).
    #[serde(rename = "tool_timeout_secs", deserialize_with = "secs")]
    pub tool_timeout: Duration,
    /// How long a conversation's loop lease lasts without renewal (`APP_AGENT__LOOP_LEASE_SECS`,
    /// default 15): after an instance dies mid-turn, another resumes its conversations this long after.
    /// Renewed every third of it; the sweep for abandoned conversations runs as often.
    #[serde(rename = "loop_lease_secs", deserialize_with = "secs")]
    pub loop_lease: Duration,
    /// The agent's instructions.
    pub system_prompt: String,
    /// Tool calls per user per minute (`APP_AGENT__TOOL_CALLS_PER_MINUTE`, default 60; 0: no limit).
    /// A call over it is not made; the model and the user are told when to try again.
    #[serde(deserialize_with = "limit")]
    pub tool_calls_per_minute: Option<u32>,
    /// Messages per user per minute (`APP_AGENT__MESSAGES_PER_MINUTE`, default 20; 0: no limit). The
    /// agent core does not count them: a front-end that takes messages from many users does (the web,
    /// across its instances, answering 429 with `Retry-After`).
    #[serde(deserialize_with = "limit")]
    pub messages_per_minute: Option<u32>,
}

/// A per-minute limit where 0 means none.
fn limit<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let value = u32::deserialize(deserializer)?;
    Ok((value > 0).then_some(value))
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            step_limit: 8,
            elicitation_timeout: Duration::from_secs(300),
            tool_timeout: Duration::from_secs(60),
            loop_lease: Duration::from_secs(15),
            system_prompt:
                "You are Portcullis, an assistant that uses the tools offered to act for the \
                            signed-in user. Call a tool when it helps; state tool results plainly."
                    .to_owned(),
            tool_calls_per_minute: Some(60),
            messages_per_minute: Some(20),
        }
    }
}
