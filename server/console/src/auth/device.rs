//! Sign-in with the device authorization grant (RFC 8628), for sessions without a browser on the same
//! machine (SSH): the console prints the verification page and the user code, never opens a browser, and
//! polls the token endpoint until the user approves or declines on any other device, or the code
//! expires. Ctrl-C simply ends the process (nothing is cached until the sign-in completes).

use super::oidc::{DeviceError, Provider, SignedIn};
use crate::exit::Failure;

/// The refusal when the provider has no device authorization endpoint.
pub fn unsupported(issuer: &str) -> Failure {
    Failure::sign_in(format!(
        "{issuer} offers no device sign-in (its metadata has no device_authorization_endpoint); \
         sign in without --device"
    ))
}

/// Signs the user in for `scopes` at `provider` through the device flow; `out` gets the page and code.
pub async fn sign_in(
    provider: &Provider,
    scopes: &[String],
    out: &mut (dyn std::io::Write + Send),
) -> Result<SignedIn, Failure> {
    let issuer = provider.metadata().issuer.clone();
    let start = provider
        .device_begin(scopes)
        .await
        .map_err(|error| match error {
            DeviceError::Unsupported => unsupported(&issuer),
            other => Failure::sign_in(other.to_string()),
        })?;
    let minutes = start.expires_in().as_secs().div_ceil(60);
    let _ = match start.verification_uri_complete() {
        Some(complete) => writeln!(
            out,
            "To sign in to {issuer}, open this page in a browser on any device:\n\n  {complete}\n\n\
             (or open {} and enter the code {})\nWaiting for the sign-in to be completed there \
             (the code expires in {minutes} min; Ctrl-C to give up) …",
            start.verification_uri(),
            start.user_code(),
        ),
        None => writeln!(
            out,
            "To sign in to {issuer}, open this page in a browser on any device:\n\n  {}\n\n\
             and enter the code {}\nWaiting for the sign-in to be completed there \
             (the code expires in {minutes} min; Ctrl-C to give up) …",
            start.verification_uri(),
            start.user_code(),
        ),
    };
    let _ = out.flush();
    let signed_in = provider
        .device_finish(start)
        .await
        .map_err(|error| Failure::sign_in(error.to_string()))?;
    tracing::info!(%issuer, user = %signed_in.identity.key(), "signed in with a device code");
    Ok(signed_in)
}
