// Drives mcp-tools with the official MCP TypeScript SDK client (not written here): connect with a
// bearer token, list tools, call tools, and answer the delete confirmation through elicitation.
// Prints one JSON line with what it saw. Run by tests/interop.rs with NODE_PATH=end2end/node_modules.
'use strict';

const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
const { ElicitRequestSchema } = require('@modelcontextprotocol/sdk/types.js');

async function main() {
  const url = new URL(process.env.MCP_URL);
  const token = process.env.MCP_TOKEN;
  const transport = new StreamableHTTPClientTransport(url, {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client(
    { name: 'ts-sdk-interop', version: '1.0.0' },
    { capabilities: { elicitation: {} } },
  );
  const elicitations = [];
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    elicitations.push(request.params.message);
    return { action: 'accept', content: { confirm: true } };
  });
  await client.connect(transport);

  const text = (result) => result.content.map((c) => c.text).join('\n');
  const tools = await client.listTools();
  const random = await client.callTool({ name: 'get_random_number', arguments: { min: 1, max: 6 } });
  const saved = text(await client.callTool({ name: 'add_note', arguments: { text: 'from the TypeScript SDK' } }));
  const id = Number(/^Saved note (\d+):/.exec(saved)[1]);
  const listedBefore = text(await client.callTool({ name: 'list_notes', arguments: {} }));
  const deleted = text(await client.callTool({ name: 'delete_note', arguments: { id } }));
  const listedAfter = text(await client.callTool({ name: 'list_notes', arguments: {} }));
  let invalid = null;
  try {
    await client.callTool({ name: 'get_random_number', arguments: { min: 'low' } });
  } catch (error) {
    invalid = error.code;
  }

  console.log(JSON.stringify({
    protocolVersion: transport.protocolVersion ?? null,
    sessionId: transport.sessionId ?? null,
    tools: tools.tools.map((t) => t.name).sort(),
    random: Number(text(random)),
    saved,
    listedBefore,
    deleted,
    listedAfter,
    elicitations,
    invalid,
  }));
  await transport.terminateSession();
  await client.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
