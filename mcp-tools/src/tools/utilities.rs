//! The stateless tools: a random number, the current date, the weather. None touches user data.

use chrono::Utc;
use chrono_tz::Tz;
use rand::Rng;
use rmcp::{model::CallToolResult, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{Tools, failure, params::Parameters, text};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RandomNumberArgs {
    /// Smallest number that may be returned (inclusive).
    pub min: i64,
    /// Largest number that may be returned (inclusive).
    pub max: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CurrentDateArgs {
    /// IANA time zone name such as `Europe/Paris` or `America/New_York`. Defaults to UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeatherArgs {
    /// City name, e.g. `Paris`.
    pub city: String,
}

#[tool_router(router = utility_router, vis = "pub(super)")]
impl Tools {
    #[tool(
        description = "Returns a random integer between min and max, both inclusive.",
        annotations(
            title = "Random number",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn get_random_number(
        &self,
        Parameters(args): Parameters<RandomNumberArgs>,
    ) -> CallToolResult {
        if args.min > args.max {
            return failure(format!(
                "min ({}) must not be greater than max ({}).",
                args.min, args.max
            ));
        }
        text(rand::rng().random_range(args.min..=args.max).to_string())
    }

    #[tool(
        description = "Returns the current date and time, in UTC or in the given IANA time zone.",
        annotations(
            title = "Current date",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn get_current_date(
        &self,
        Parameters(args): Parameters<CurrentDateArgs>,
    ) -> CallToolResult {
        let zone = args.time_zone.as_deref().map(str::trim).unwrap_or("UTC");
        let Ok(tz) = zone.parse::<Tz>() else {
            return failure(format!(
                "Unknown time zone {zone:?}: use an IANA name such as Europe/Paris or America/New_York."
            ));
        };
        let now = Utc::now().with_timezone(&tz);
        text(format!(
            "{} ({}), {} {} (UTC{})",
            now.format("%Y-%m-%d"),
            now.format("%A"),
            now.format("%H:%M:%S"),
            tz.name(),
            now.format("%:z")
        ))
    }

    #[tool(
        description = "Returns the current weather for a city. The built-in provider serves offline demo data, not a real forecast.",
        annotations(
            title = "Weather",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn get_weather(&self, Parameters(args): Parameters<WeatherArgs>) -> CallToolResult {
        let city = args.city.trim();
        if city.is_empty() || city.chars().count() > 100 {
            return failure("city must be a name of 1 to 100 characters.");
        }
        match self.shared.weather.current(city).await {
            Ok(weather) => text(weather.to_string()),
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "weather provider failed");
                failure(format!("No weather available for {city} right now."))
            }
        }
    }
}
