//! Signing in as a public client: discovery from the MCP server's 401 to the authorization server's
//! metadata (`discovery`), RFC 7591 registration (`register`), the OpenID Connect client (`oidc`:
//! PKCE S256, state, nonce, ID-token validation, refresh), the loopback redirect (`loopback`: RFC 8252,
//! RFC 9207 `iss`), the device authorization grant for sessions without a browser (`device`: RFC 8628),
//! and the system browser (`browser`).

pub mod browser;
pub mod device;
pub mod discovery;
pub mod loopback;
pub mod oidc;
pub mod register;
