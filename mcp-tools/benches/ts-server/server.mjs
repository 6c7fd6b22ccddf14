// The official MCP TypeScript SDK server the load benchmark runs next to mcp-tools: the same
// `get_random_number` tool, stateful Streamable HTTP sessions (SSE answers), the SDK's own
// `requireBearerAuth` with a jose remote-JWKS verifier trusting the benchmark's issuer, the SDK's Express
// app (Host validation for loopback), and each session bound to the user who opened it (as mcp-tools does).
//
// Environment: PORT, ISSUER, JWKS_URI, AUDIENCE, SCOPE. Started by `cargo bench -p mcp-tools --bench load`.
import { randomUUID } from 'node:crypto';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { z } from 'zod';

const { PORT, ISSUER, JWKS_URI, AUDIENCE, SCOPE = 'mcp:tools' } = process.env;
const keys = createRemoteJWKSet(new URL(JWKS_URI));

const verifier = {
  async verifyAccessToken(token) {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: ISSUER,
        audience: AUDIENCE,
        algorithms: ['RS256'],
      }));
    } catch {
      throw new InvalidTokenError('invalid token');
    }
    return {
      token,
      clientId: String(payload.azp ?? payload.appid ?? 'unknown'),
      scopes: String(payload.scp ?? '').split(' ').filter(Boolean),
      expiresAt: payload.exp,
      extra: { user: `${payload.tid}/${payload.oid ?? payload.sub}` },
    };
  },
};

function newServer() {
  const server = new McpServer({ name: 'bench-ts-server', version: '1.0.0' });
  server.registerTool(
    'get_random_number',
    {
      description: 'Returns a random integer between min and max, both inclusive.',
      inputSchema: { min: z.number().int(), max: z.number().int() },
    },
    async ({ min, max }) => ({
      content: [{ type: 'text', text: String(min + Math.floor(Math.random() * (max - min + 1))) }],
    }),
  );
  return server;
}

/** session id → { transport, user } */
const sessions = new Map();

const app = createMcpExpressApp({ host: '127.0.0.1' });
app.get('/healthz', (_req, res) => res.send('ok'));
const auth = requireBearerAuth({ verifier, requiredScopes: [SCOPE] });

function notFound(res) {
  res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
}

app.post('/mcp', auth, async (req, res) => {
  const id = req.headers['mcp-session-id'];
  const user = req.auth.extra.user;
  if (id) {
    const session = sessions.get(id);
    if (!session || session.user !== user) return notFound(res);
    return session.transport.handleRequest(req, res, req.body);
  }
  if (!isInitializeRequest(req.body)) {
    return res.status(400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'No session' }, id: null });
  }
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    onsessioninitialized: (sid) => sessions.set(sid, { transport, user }),
  });
  transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
  await newServer().connect(transport);
  await transport.handleRequest(req, res, req.body);
});

const sessionRequest = async (req, res) => {
  const session = sessions.get(req.headers['mcp-session-id']);
  if (!session || session.user !== req.auth.extra.user) return notFound(res);
  await session.transport.handleRequest(req, res);
};
app.get('/mcp', auth, sessionRequest);
app.delete('/mcp', auth, sessionRequest);

const listener = app.listen(Number(PORT), '127.0.0.1', () => console.log(`listening on ${PORT}`));
// Node sets TCP_NODELAY on HTTP server sockets by default (noDelay: true since Node 18.6).
listener.keepAliveTimeout = 30_000;
