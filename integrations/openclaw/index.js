// Warden governance for OpenClaw: a `before_tool_call` hook that asks Warden whether each of
// the agent's tool calls may run.
//
//   allow              -> the call runs unchanged
//   deny               -> the call is blocked with Warden's reason
//   approval_required  -> the call is blocked with a reason naming the approval request; once a
//                         person approves it in Warden, the identical call (same tool, same
//                         arguments, same agent and session) is allowed once
//   anything else      -> blocked (fail-closed): Warden unreachable, timed out, a non-200
//                         answer, or an answer that is not one of the above
//
// Plain JavaScript, no dependencies: it exports the entry object OpenClaw's
// `definePluginEntry` would build. The API key is never logged.

import { readFileSync } from "node:fs";

const PLUGIN_ID = "warden";
const DEFAULT_URL = "http://127.0.0.1:8787";
const DEFAULT_TIMEOUT_MS = 5000;
// OpenClaw gives a before_tool_call handler 15 s and then blocks the call itself; our own
// budget stays well under that so the agent gets Warden's clear reason, not a bare timeout.
const MAX_TIMEOUT_MS = 12000;
const DECISION_PATH = "/v1/decisions/tool-call";

/** Resolves the settings: plugin config first, then the environment. */
export function resolveSettings(pluginConfig = {}, env = process.env) {
  const config = pluginConfig && typeof pluginConfig === "object" ? pluginConfig : {};
  const rawUrl = nonEmpty(config.url) ?? nonEmpty(env.WARDEN_URL) ?? DEFAULT_URL;
  let apiKey = nonEmpty(config.apiKey) ?? null;
  let keyProblem = null;
  if (!apiKey && nonEmpty(config.apiKeyFile)) {
    try {
      apiKey = nonEmpty(readFileSync(config.apiKeyFile, "utf8"));
      if (!apiKey) keyProblem = `the key file ${config.apiKeyFile} is empty`;
    } catch (e) {
      keyProblem = `the key file ${config.apiKeyFile} cannot be read (${e.code ?? e.message})`;
    }
  }
  if (!apiKey && !keyProblem) apiKey = nonEmpty(env.WARDEN_API_KEY) ?? null;
  if (!apiKey && !keyProblem) {
    keyProblem = `no Warden API key: set plugins.entries.${PLUGIN_ID}.config.apiKey (or apiKeyFile) or WARDEN_API_KEY`;
  }
  let timeoutMs = Number.isInteger(config.timeoutMs) ? config.timeoutMs : DEFAULT_TIMEOUT_MS;
  timeoutMs = Math.min(Math.max(timeoutMs, 100), MAX_TIMEOUT_MS);
  let endpoint = null;
  let urlProblem = null;
  try {
    const url = new URL(rawUrl.replace(/\/+$/, "") + DECISION_PATH);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("not http(s)");
    if (url.username || url.password) throw new Error("credentials in the URL");
    endpoint = url.toString();
  } catch (e) {
    urlProblem = `the Warden URL ${JSON.stringify(rawUrl)} is not usable (${e.message})`;
  }
  return { endpoint, apiKey, timeoutMs, problem: urlProblem ?? keyProblem };
}

function nonEmpty(value) {
  if (typeof value !== "string") return undefined;
  const trimmed = value.trim();
  return trimmed === "" ? undefined : trimmed;
}

function block(reason) {
  return { block: true, blockReason: `Warden: ${reason}` };
}

/** A short, key-free description of an HTTP error answer. */
function describeErrorBody(text) {
  try {
    const body = JSON.parse(text);
    const error = body?.error ?? body;
    const message = typeof error === "string" ? error : error?.message;
    if (typeof message === "string" && message) return message.slice(0, 300);
  } catch {
    // not JSON
  }
  return text ? text.slice(0, 200) : "no body";
}

/**
 * Asks Warden about one tool call and maps the answer to OpenClaw's before_tool_call result.
 * Returns undefined to let the call through; every other outcome is a block.
 */
export async function decide(settings, event, ctx = {}, fetchImpl = globalThis.fetch) {
  if (settings.problem) {
    return block(`tool call blocked: the Warden plugin is misconfigured (${settings.problem}).`);
  }
  let body;
  try {
    body = JSON.stringify({
      toolName: event?.toolName,
      params: event?.params ?? {},
      runId: event?.runId ?? ctx?.runId ?? null,
      toolCallId: event?.toolCallId ?? null,
      agentId: ctx?.agentId ?? null,
      sessionKey: ctx?.sessionKey ?? null,
      requester: ctx?.requester ?? null,
    });
  } catch (e) {
    return block(`tool call blocked: its arguments cannot be sent to Warden for a decision (${e.message}).`);
  }
  const timeout = AbortSignal.timeout(settings.timeoutMs);
  const signal =
    ctx?.abortSignal && typeof AbortSignal.any === "function"
      ? AbortSignal.any([timeout, ctx.abortSignal])
      : timeout;
  let response;
  let text;
  try {
    response = await fetchImpl(settings.endpoint, {
      method: "POST",
      headers: {
        authorization: `Bearer ${settings.apiKey}`,
        "content-type": "application/json",
        accept: "application/json",
      },
      body,
      signal,
    });
    text = await response.text();
  } catch (e) {
    if (timeout.aborted) {
      return block(
        `tool call blocked: Warden did not answer within ${settings.timeoutMs} ms (fail-closed). Check that Warden is running and reachable.`,
      );
    }
    if (ctx?.abortSignal?.aborted) {
      return block("tool call blocked: the tool call was cancelled before Warden answered.");
    }
    const cause = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(e);
    return block(`tool call blocked: Warden is unreachable (${cause}) (fail-closed).`);
  }
  if (response.status !== 200) {
    return block(
      `tool call blocked: Warden answered HTTP ${response.status} (${describeErrorBody(text)}) (fail-closed).`,
    );
  }
  let answer;
  try {
    answer = JSON.parse(text);
  } catch {
    return block("tool call blocked: Warden's answer is not JSON (fail-closed).");
  }
  if (!answer || typeof answer !== "object" || Array.isArray(answer)) {
    return block("tool call blocked: Warden's answer is not a JSON object (fail-closed).");
  }
  const reason = typeof answer.reason === "string" && answer.reason ? answer.reason : null;
  const trace = typeof answer.traceId === "string" && answer.traceId ? ` [trace ${answer.traceId}]` : "";
  switch (answer.decision) {
    case "allow":
      return undefined;
    case "deny":
      return block(`tool call denied by policy: ${reason ?? "no reason given"}${trace}`);
    case "approval_required": {
      const id = typeof answer.approvalId === "string" && answer.approvalId ? answer.approvalId : null;
      if (!id) {
        return block(
          "tool call blocked: Warden asked for approval but named no approval request (fail-closed).",
        );
      }
      return block(
        `tool call needs a person's approval: approval request ${id} is waiting in Warden` +
          `${reason ? ` (${reason})` : ""}. This run cannot wait for it. Once a person approves ${id}, ` +
          `retry the identical call (same tool, same arguments, in this session) and Warden will allow it once.${trace}`,
      );
    }
    default:
      return block(
        `tool call blocked: Warden's answer has no known decision (${JSON.stringify(answer.decision ?? null)}) (fail-closed).`,
      );
  }
}

export default {
  id: PLUGIN_ID,
  name: "Warden governance",
  description: "Asks a Warden governance gateway before every agent tool call (fail-closed).",
  register(api) {
    const settings = resolveSettings(api.pluginConfig ?? {}, process.env);
    const log = api.logger ?? console;
    if (settings.problem) {
      log.error?.(`warden: every tool call will be blocked: ${settings.problem}`);
    } else {
      log.info?.(
        `warden: tool calls are decided by ${settings.endpoint} (timeout ${settings.timeoutMs} ms, fail-closed)`,
      );
    }
    api.on(
      "before_tool_call",
      async (event, ctx) => {
        const result = await decide(settings, event, ctx);
        if (result?.block) {
          log.warn?.(`warden: blocked ${event?.toolName ?? "?"}: ${result.blockReason}`);
        }
        return result;
      },
      // Runs before other tool policies; a block is terminal.
      { priority: 1000 },
    );
  },
};
