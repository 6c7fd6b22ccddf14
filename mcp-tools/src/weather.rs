//! Weather for `get_weather`. The provider is a trait so a real service can be plugged in; the default is
//! an offline, deterministic demo provider whose output says plainly that it is not a real forecast.

use std::{fmt, future::Future, pin::Pin};

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Current conditions for a place.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Weather {
    pub city: String,
    pub temperature_c: i32,
    pub condition: &'static str,
    pub humidity_percent: u8,
    pub wind_kmh: u8,
    /// Where the figures come from; the offline provider says it is demo data.
    pub source: &'static str,
}

impl fmt::Display for Weather {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} °C, {}, humidity {} %, wind {} km/h (source: {})",
            self.city,
            self.temperature_c,
            self.condition,
            self.humidity_percent,
            self.wind_kmh,
            self.source
        )
    }
}

/// A boxed future, so providers can be used as `dyn WeatherProvider`.
pub type WeatherFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<Weather>> + Send + 'a>>;

/// A source of current weather.
pub trait WeatherProvider: Send + Sync + 'static {
    fn current<'a>(&'a self, city: &'a str) -> WeatherFuture<'a>;
}

/// Offline demo data: the same city always gets the same made-up weather. Not a forecast.
#[derive(Debug, Default, Clone, Copy)]
pub struct OfflineWeather;

const CONDITIONS: [&str; 6] = [
    "sunny",
    "partly cloudy",
    "overcast",
    "light rain",
    "showers",
    "windy",
];

impl WeatherProvider for OfflineWeather {
    fn current<'a>(&'a self, city: &'a str) -> WeatherFuture<'a> {
        Box::pin(async move {
            let normalized = city.trim().to_lowercase();
            let digest = Sha256::digest(normalized.as_bytes());
            Ok(Weather {
                city: city.trim().to_owned(),
                temperature_c: i32::from(digest[0] % 41) - 5,
                condition: CONDITIONS[usize::from(digest[1]) % CONDITIONS.len()],
                humidity_percent: 20 + digest[2] % 76,
                wind_kmh: digest[3] % 60,
                source: "offline demo data, not a real forecast",
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn offline_weather_is_deterministic_and_labelled() {
        let a = OfflineWeather.current("Paris").await.unwrap();
        let b = OfflineWeather.current("  paris ").await.unwrap();
        assert_eq!(
            (a.temperature_c, a.condition),
            (b.temperature_c, b.condition)
        );
        assert!((-5..=35).contains(&a.temperature_c));
        assert!(a.to_string().contains("not a real forecast"));
    }
}
