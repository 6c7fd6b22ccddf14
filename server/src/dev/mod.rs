//! Development stand-ins for cloud services, so everything runs offline on a fresh machine.
//!
//! - [`idp`]: an Entra-shaped OpenID provider.
//! - [`start`]: starts the stand-ins the configuration leaves unconfigured.

pub mod idp;

use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// The stand-ins started for this process.
pub struct DevStack {
    /// Present when no `APP_AUTH__AUTHORITY` is configured.
    pub idp: Option<idp::DevIdp>,
}

/// Starts every stand-in whose real service is not configured; they stop when `shutdown` is cancelled.
pub async fn start(config: &Config, shutdown: CancellationToken) -> anyhow::Result<DevStack> {
    let idp = match &config.auth.authority {
        Some(_) => None,
        None => {
            let listener = idp::bind(&config.dev_idp, config.environment).await?;
            let (idp, _task) = idp::serve(
                listener,
                &config.dev_idp,
                &config.data_dir,
                shutdown.cancelled_owned(),
            )
            .await?;
            Some(idp)
        }
    };
    Ok(DevStack { idp })
}
