// Message adapter for benchmarking the original TypeScript implementation's SidecarManager (bench/peers.py, peer "seed_bun").
//
// That implementation imports `./message-adapter.ts` for `parseMessage(provider, event)` and the
// `AgentMessage` / `ProviderId` types, but that file is not part of it. This one is
// written for the bench: it maps Claude Code stream-json events the way sidecar_sync's
// claude adapter does (sidecar_sync/adapters/_claude.py), so both sides do comparable work
// per event — one message per content block, typed content objects, ids, a timestamp.
// Every provider name is treated as Claude (the bench runs provider "bench").

export type ProviderId = string;

export type MessageType =
  | "init" | "text" | "thinking" | "tool_call" | "tool_result" | "status"
  | "compaction" | "cost" | "error" | "unknown";

export interface AgentMessage {
  id: string;
  type: MessageType;
  content: unknown;
  parentId?: string;
  timestamp: number;
}

type Obj = Record<string, unknown>;

let counter = 0;
const nextId = (): string => `m${(++counter).toString(36)}`;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown, d = ""): string => (typeof v === "string" ? v : d);
const num = (v: unknown): number | undefined => (typeof v === "number" ? v : undefined);

function eventId(e: Obj): string {
  return typeof e.uuid === "string" ? e.uuid : nextId();
}

function parent(e: Obj): string | undefined {
  return typeof e.parent_tool_use_id === "string" ? e.parent_tool_use_id : undefined;
}

function unknown(e: Obj, ts: number): AgentMessage {
  return { id: eventId(e), type: "unknown", content: e, parentId: parent(e), timestamp: ts };
}

function system(e: Obj, ts: number): AgentMessage[] {
  const subtype = str(e.subtype);
  if (subtype === "init") {
    return [{
      id: eventId(e), type: "init", parentId: parent(e), timestamp: ts,
      content: {
        sessionId: str(e.session_id), model: str(e.model), cwd: str(e.cwd),
        tools: Array.isArray(e.tools) ? e.tools.filter((t) => typeof t === "string") : [],
      },
    }];
  }
  if (subtype === "compact_boundary") {
    const meta = isObj(e.compact_metadata) ? e.compact_metadata : {};
    return [{
      id: eventId(e), type: "compaction", parentId: parent(e), timestamp: ts,
      content: { trigger: str(meta.trigger), preTokens: num(meta.pre_tokens) ?? 0 },
    }];
  }
  let message = subtype;
  if (subtype === "status") message = str(e.status) === "requesting" ? "Requesting a model response" : str(e.status);
  else if (subtype === "api_retry") {
    message = `API error ${num(e.error_status) ?? "?"} (${str(e.error)}); retry ${num(e.attempt) ?? "?"}/${num(e.max_retries) ?? "?"}`;
  }
  return [{ id: eventId(e), type: "status", parentId: parent(e), timestamp: ts, content: { subtype, message, data: e } }];
}

function assistant(e: Obj, ts: number): AgentMessage[] {
  const msg = isObj(e.message) ? e.message : {};
  const blocks = Array.isArray(msg.content) ? msg.content : [];
  const base = eventId(e);
  const out: AgentMessage[] = [];
  blocks.forEach((b, n) => {
    if (!isObj(b)) return;
    const kind = str(b.type);
    if (kind === "text") {
      out.push({ id: `${base}-text-${n}`, type: "text", parentId: parent(e), timestamp: ts, content: { text: str(b.text) } });
    } else if (kind === "thinking") {
      out.push({ id: `${base}-thinking-${n}`, type: "thinking", parentId: parent(e), timestamp: ts, content: { text: str(b.thinking) } });
    } else if (kind === "tool_use") {
      out.push({
        id: `${base}-tool_call-${n}`, type: "tool_call", parentId: parent(e), timestamp: ts,
        content: { toolUseId: str(b.id), name: str(b.name), input: isObj(b.input) ? b.input : {} },
      });
    } else {
      out.push({ id: `${base}-unknown-${n}`, type: "unknown", parentId: parent(e), timestamp: ts, content: b });
    }
  });
  return out;
}

function user(e: Obj, ts: number): AgentMessage[] {
  const msg = isObj(e.message) ? e.message : {};
  const blocks = Array.isArray(msg.content) ? msg.content : [];
  const out: AgentMessage[] = [];
  const base = eventId(e);
  let other = false;
  blocks.forEach((b, n) => {
    if (isObj(b) && b.type === "tool_result") {
      out.push({
        id: `${base}-tool_result-${n}`, type: "tool_result", parentId: parent(e), timestamp: ts,
        content: {
          toolUseId: str(b.tool_use_id), output: b.content ?? "", isError: b.is_error === true,
          structured: blocks.length === 1 && isObj(e.tool_use_result) ? e.tool_use_result : undefined,
        },
      });
    } else {
      other = true;
    }
  });
  if (other || blocks.length === 0) out.push(unknown(e, ts));
  return out;
}

function result(e: Obj, ts: number): AgentMessage[] {
  const usage = isObj(e.usage) ? e.usage : {};
  const isError = e.is_error === true || (typeof e.subtype === "string" && e.subtype !== "success")
    || typeof e.api_error_status === "number" || e.terminal_reason === "api_error";
  const out: AgentMessage[] = [{
    id: eventId(e), type: "cost", parentId: parent(e), timestamp: ts,
    content: {
      totalCostUsd: num(e.total_cost_usd), durationMs: num(e.duration_ms),
      inputTokens: num(usage.input_tokens) ?? 0, outputTokens: num(usage.output_tokens) ?? 0,
      numTurns: num(e.num_turns) ?? 0, isError, result: str(e.result),
      errors: Array.isArray(e.errors) ? e.errors : [],
    },
  }];
  if (isError) {
    out.push({ id: `${eventId(e)}-error`, type: "error", parentId: parent(e), timestamp: ts, content: { message: str(e.result, "turn failed") } });
  }
  return out;
}

function streamEvent(e: Obj, ts: number): AgentMessage[] {
  const inner = isObj(e.event) ? e.event : undefined;
  if (inner && inner.type === "content_block_delta" && isObj(inner.delta)) {
    const d = inner.delta;
    const messageId = str(e.api_message_id);
    const index = num(inner.index);
    if (d.type === "text_delta") {
      return [{ id: eventId(e), type: "text", parentId: parent(e), timestamp: ts, content: { text: str(d.text), delta: true, messageId, index } }];
    }
    if (d.type === "thinking_delta") {
      return [{ id: eventId(e), type: "thinking", parentId: parent(e), timestamp: ts, content: { text: str(d.thinking), delta: true, messageId, index } }];
    }
  }
  return [unknown(e, ts)];
}

export function parseMessage(_provider: ProviderId, event: Record<string, unknown>): AgentMessage[] {
  const ts = Date.now();
  switch (event.type) {
    case "system": return system(event, ts);
    case "assistant": return assistant(event, ts);
    case "user": return user(event, ts);
    case "result": return result(event, ts);
    case "stream_event": return streamEvent(event, ts);
    default: return [unknown(event, ts)];
  }
}
