// Unit tests for the Warden plugin's decision mapping. No dependencies:
//   node --test integrations/openclaw/test/
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";

import plugin, { decide, resolveSettings } from "../index.js";

const KEY = "wdn_test_secret_key_123";
const settings = (extra = {}) =>
  resolveSettings({ url: "http://127.0.0.1:9", apiKey: KEY, timeoutMs: 500, ...extra }, {});
const event = { toolName: "exec", params: { command: "ls -la /tmp" }, runId: "run-1", toolCallId: "call-1" };
const ctx = { agentId: "main", sessionKey: "agent:main:main", requester: { senderIsOwner: true } };

function fakeFetch(status, body, seen = {}) {
  return async (url, init) => {
    seen.url = url;
    seen.init = init;
    return { status, text: async () => (typeof body === "string" ? body : JSON.stringify(body)) };
  };
}

test("allow lets the call through and sends the documented request", async () => {
  const seen = {};
  const result = await decide(settings(), event, ctx, fakeFetch(200, { decision: "allow", reason: "ok" }, seen));
  assert.equal(result, undefined);
  assert.equal(seen.url, "http://127.0.0.1:9/v1/decisions/tool-call");
  assert.equal(seen.init.method, "POST");
  assert.equal(seen.init.headers.authorization, `Bearer ${KEY}`);
  assert.deepEqual(JSON.parse(seen.init.body), {
    toolName: "exec",
    params: { command: "ls -la /tmp" },
    runId: "run-1",
    toolCallId: "call-1",
    agentId: "main",
    sessionKey: "agent:main:main",
    requester: { senderIsOwner: true },
  });
});

test("deny blocks with Warden's reason", async () => {
  const result = await decide(
    settings(),
    event,
    ctx,
    fakeFetch(200, { decision: "deny", reason: "Shell detected", traceId: "t-1", rule: "red.shell" }),
  );
  assert.equal(result.block, true);
  assert.match(result.blockReason, /denied by policy: Shell detected/);
  assert.match(result.blockReason, /t-1/);
});

test("approval_required blocks naming the approval id and the retry", async () => {
  const result = await decide(
    settings(),
    event,
    ctx,
    fakeFetch(200, { decision: "approval_required", reason: "needs a person", approvalId: "apr-42" }),
  );
  assert.equal(result.block, true);
  assert.match(result.blockReason, /approval request apr-42/);
  assert.match(result.blockReason, /retry the identical call/);
});

test("approval_required without an approval id fails closed", async () => {
  const result = await decide(settings(), event, ctx, fakeFetch(200, { decision: "approval_required" }));
  assert.equal(result.block, true);
  assert.match(result.blockReason, /fail-closed/);
});

for (const [name, status, body] of [
  ["a non-200 answer", 401, { error: { message: "Missing or invalid API key" } }],
  ["a 500 answer", 500, "boom"],
  ["a body that is not JSON", 200, "<html>"],
  ["a JSON array", 200, []],
  ["an unknown decision", 200, { decision: "maybe" }],
  ["no decision", 200, { reason: "?" }],
]) {
  test(`${name} blocks (fail-closed)`, async () => {
    const result = await decide(settings(), event, ctx, fakeFetch(status, body));
    assert.equal(result.block, true);
    assert.match(result.blockReason, /fail-closed/);
    assert.ok(!result.blockReason.includes(KEY));
  });
}

test("an unreachable Warden blocks", async () => {
  const result = await decide(settings(), event, ctx, async () => {
    throw new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
  });
  assert.equal(result.block, true);
  assert.match(result.blockReason, /unreachable \(ECONNREFUSED\)/);
});

test("a Warden that does not answer in time blocks within the timeout", async () => {
  const server = createServer(() => {}); // never answers
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = server.address();
    const started = Date.now();
    const result = await decide(settings({ url: `http://127.0.0.1:${port}`, timeoutMs: 300 }), event, ctx);
    assert.equal(result.block, true);
    assert.match(result.blockReason, /did not answer within 300 ms/);
    assert.ok(Date.now() - started < 3000);
  } finally {
    server.closeAllConnections?.();
    server.close();
  }
});

test("a real HTTP round trip: allow and deny", async () => {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const ask = JSON.parse(body);
      const ok = req.headers.authorization === `Bearer ${KEY}` && req.url === "/v1/decisions/tool-call";
      res.writeHead(ok ? 200 : 401, { "content-type": "application/json" });
      res.end(JSON.stringify(ask.toolName === "read" ? { decision: "allow" } : { decision: "deny", reason: "no" }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const s = settings({ url: `http://127.0.0.1:${server.address().port}/` });
    assert.equal(await decide(s, { toolName: "read", params: {} }, ctx), undefined);
    assert.equal((await decide(s, event, ctx)).block, true);
  } finally {
    server.close();
  }
});

test("settings: config wins over the environment; the key can come from the environment", () => {
  const env = { WARDEN_URL: "http://warden.internal:8787", WARDEN_API_KEY: "env-key" };
  const fromEnv = resolveSettings({}, env);
  assert.equal(fromEnv.endpoint, "http://warden.internal:8787/v1/decisions/tool-call");
  assert.equal(fromEnv.apiKey, "env-key");
  assert.equal(fromEnv.problem, null);
  const fromConfig = resolveSettings({ url: "http://127.0.0.1:1", apiKey: "cfg-key" }, env);
  assert.equal(fromConfig.endpoint, "http://127.0.0.1:1/v1/decisions/tool-call");
  assert.equal(fromConfig.apiKey, "cfg-key");
  assert.equal(resolveSettings({ timeoutMs: 60000 }, env).timeoutMs, 12000);
  assert.equal(resolveSettings({}, env).timeoutMs, 5000);
});

test("a missing key or a bad URL blocks every call, naming the problem", async () => {
  const noKey = resolveSettings({ url: "http://127.0.0.1:1" }, {});
  assert.match(noKey.problem, /no Warden API key/);
  const result = await decide(noKey, event, ctx, fakeFetch(200, { decision: "allow" }));
  assert.equal(result.block, true);
  assert.match(result.blockReason, /misconfigured/);
  assert.match(resolveSettings({ url: "ftp://x", apiKey: "k" }, {}).problem, /not usable/);
  assert.match(resolveSettings({ apiKeyFile: "/nonexistent/warden.key" }, {}).problem, /cannot be read/);
});

test("register: one before_tool_call hook; the key is never logged", async () => {
  const registered = [];
  const lines = [];
  const logger = { info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
  plugin.register({
    pluginConfig: { url: "http://127.0.0.1:9", apiKey: KEY, timeoutMs: 300 },
    logger,
    on: (name, handler, opts) => registered.push({ name, handler, opts }),
  });
  assert.equal(registered.length, 1);
  assert.equal(registered[0].name, "before_tool_call");
  // Nothing listens on port 9: the handler blocks (fail-closed) and logs why, without the key.
  const result = await registered[0].handler(event, ctx);
  assert.equal(result.block, true);
  assert.ok(lines.length >= 2);
  for (const line of lines) assert.ok(!line.includes(KEY), line);
});
