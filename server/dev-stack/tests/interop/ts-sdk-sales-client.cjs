// Drives the in-process sales MCP server with the official MCP TypeScript SDK client (not written here),
// authorizing the way the SDK does by default: the 401 leads it to the protected-resource metadata and
// the dev IdP's authorization server metadata, it registers dynamically (RFC 7591), and runs the
// authorization code flow with PKCE sending `resource` = the MCP URL (RFC 8707). Only the user agent is
// ours: `redirectToAuthorization` plays the browser on the dev IdP's HTML pages with fetch (sign in as
// DEV_USER, Accept on the consent page) and reads the code off the redirect, as a loopback listener
// would. Then it calls sales_summary and prints one JSON line with what it saw.
// Run by tests/sales_sdk.rs with NODE_PATH=end2end/node_modules, MCP_URL and DEV_USER.
'use strict';

const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
const { UnauthorizedError } = require('@modelcontextprotocol/sdk/client/auth.js');

// A loopback redirect (RFC 8252) nothing listens at: the code is read off the IdP's redirect.
const REDIRECT = 'http://127.0.0.1:45125/callback';

/// What the pages escape in attribute values.
function unescape(text) {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/// The hidden fields of a page's form, in order: what a browser submits with the clicked button.
function hiddenFields(html) {
  const fields = [];
  for (const tag of html.match(/<input[^>]*>/g) ?? []) {
    const attribute = (name) => {
      const found = new RegExp(` ${name}="([^"]*)"`).exec(tag);
      return found ? unescape(found[1]) : undefined;
    };
    if (attribute('type') === 'hidden') {
      fields.push([attribute('name'), attribute('value')]);
    }
  }
  return fields;
}

/// A browser with cookies off that does not follow redirects (the last one goes to REDIRECT).
class Browser {
  constructor(user) {
    this.user = user;
    this.pages = [];
  }

  async open(url) {
    const response = await fetch(url, { redirect: 'manual' });
    return this.read(url, response);
  }

  /// Clicks a submit button (`name` = `value`) of the page's form, which posts back to the page's URL.
  async click(page, name, value) {
    const form = new URLSearchParams([...hiddenFields(page.html), [name, value]]);
    const response = await fetch(page.url, { method: 'POST', body: form, redirect: 'manual' });
    return this.read(page.url, response);
  }

  async read(url, response) {
    if (response.status === 302 || response.status === 303) {
      return { url, location: new URL(response.headers.get('location')) };
    }
    const html = await response.text();
    if (response.status !== 200) {
      throw new Error(`the dev IdP answered ${response.status}: ${html}`);
    }
    const title = /<h1>([^<]*)<\/h1>/.exec(html)?.[1] ?? '';
    this.pages.push(title);
    return { url, html };
  }

  /// The whole journey: sign-in page, the user's button, the consent page's Accept if it comes.
  async authorize(authorizationUrl) {
    let page = await this.open(authorizationUrl);
    page = await this.click(page, 'user', this.user);
    if (page.html !== undefined) {
      const scopes = [...page.html.matchAll(/data-testid="consent-scope-([^"]*)"/g)].map((m) => unescape(m[1]));
      this.consented = scopes;
      page = await this.click(page, 'action', 'consent');
    }
    const { location } = page;
    if (`${location.origin}${location.pathname}` !== REDIRECT) {
      throw new Error(`redirected elsewhere: ${location}`);
    }
    const error = location.searchParams.get('error');
    if (error) {
      throw new Error(`authorization failed: ${error}: ${location.searchParams.get('error_description')}`);
    }
    return location.searchParams.get('code');
  }
}

/// The SDK's OAuthClientProvider, kept in memory for one session; what it is handed is recorded.
class Provider {
  constructor(browser) {
    this.browser = browser;
    this.saved = {};
    this.authorizationUrls = [];
  }

  get redirectUrl() {
    return REDIRECT;
  }

  get clientMetadata() {
    return {
      client_name: 'ts-sdk-sales',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  clientInformation() {
    return this.saved.client;
  }

  saveClientInformation(client) {
    this.saved.client = client;
  }

  tokens() {
    return this.saved.tokens;
  }

  saveTokens(tokens) {
    this.saved.tokens = tokens;
  }

  saveCodeVerifier(verifier) {
    this.saved.verifier = verifier;
  }

  codeVerifier() {
    return this.saved.verifier;
  }

  async redirectToAuthorization(url) {
    this.authorizationUrls.push(url.toString());
    this.code = await this.browser.authorize(url);
  }
}

async function connect(url, provider) {
  const transport = new StreamableHTTPClientTransport(url, { authProvider: provider });
  const client = new Client({ name: 'ts-sdk-sales', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

async function main() {
  const url = new URL(process.env.MCP_URL);
  const browser = new Browser(process.env.DEV_USER);
  const provider = new Provider(browser);

  // The first connect meets the 401 and sends the user agent to the IdP; the SDK then throws, as it
  // does in every app, and the app finishes with the code its redirect brought back.
  let unauthorized = false;
  try {
    await connect(url, provider);
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
    unauthorized = true;
  }
  const first = new StreamableHTTPClientTransport(url, { authProvider: provider });
  await first.finishAuth(provider.code);

  const { client, transport } = await connect(url, provider);
  const tools = await client.listTools();
  const summary = await client.callTool({
    name: 'sales_summary',
    arguments: { year: 2026, group_by: 'quarter' },
  });
  const authorization = new URL(provider.authorizationUrls[0]);
  console.log(JSON.stringify({
    unauthorized,
    clientId: provider.saved.client?.client_id ?? null,
    authorizationRequest: {
      scope: authorization.searchParams.get('scope'),
      resource: authorization.searchParams.getAll('resource'),
      codeChallengeMethod: authorization.searchParams.get('code_challenge_method'),
    },
    pages: browser.pages,
    consented: browser.consented ?? [],
    tokenType: provider.saved.tokens?.token_type ?? null,
    accessToken: provider.saved.tokens?.access_token ?? null,
    protocolVersion: transport.protocolVersion ?? null,
    tools: tools.tools.map((t) => t.name).sort(),
    isError: summary.isError ?? false,
    structuredContent: summary.structuredContent ?? null,
  }));
  await transport.terminateSession();
  await client.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
