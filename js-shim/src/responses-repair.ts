// Repairs OpenAI Responses API event streams (POST .../responses, stream: true)
// from gateways that leave out `output_index` / `content_index` /
// `summary_index` (observed: Envoy AI Gateway). @ai-sdk/openai needs them:
// without `output_index` it drops `response.output_item.added`, and OpenCode
// then fails with "text part <id> not found".
//
// The stream is cut into server-sent events as bytes (any SSE line end, split
// anywhere). Only an event that lacked an index is re-encoded: its `data:`
// lines become one holding the repaired JSON; every other line and line end
// is kept byte for byte. So a conformant stream comes out byte-identical, a
// repaired one is unchanged by a second pass, and present indices never change.

import { attempt, isRecord } from "./sidecar.js";

/** A fetch function as the AI SDK calls it. */
export type FetchFn = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

const LF = 0x0a;
const CR = 0x0d;
const ours = new WeakSet<FetchFn>();

/**
 * A fetch that calls `delegate` (globalThis.fetch when absent) and repairs the
 * body of event-stream answers to requests whose path ends in `/responses`.
 * Wrapping a fetch returned by this function returns it as is.
 */
export function withResponsesRepair(delegate?: FetchFn): FetchFn {
  if (delegate !== undefined && ours.has(delegate)) return delegate;
  const repairing: FetchFn = async (input, init) => {
    const res = await (delegate ?? globalThis.fetch)(input, init);
    if (res.body === null || !isResponsesPath(input) || !isEventStream(res.headers)) return res;
    const headers = new Headers(res.headers);
    headers.delete("content-length"); // the repaired body may be longer
    const out = new Response(res.body.pipeThrough(responsesRepairStream()), { status: res.status, statusText: res.statusText, headers });
    try {
      Object.defineProperty(out, "url", { value: res.url });
    } catch {
      /* keep the constructed Response's empty url */
    }
    return out;
  };
  ours.add(repairing);
  return repairing;
}

function isResponsesPath(input: string | URL | Request): boolean {
  const url = typeof input === "string" ? input : "href" in input ? input.href : input.url;
  return attempt(() => new URL(url).pathname.endsWith("/responses"), false);
}

function isEventStream(headers: Headers): boolean {
  const type = headers.get("content-type") ?? "";
  return (type.split(";")[0] ?? "").trim().toLowerCase() === "text/event-stream";
}

/** The byte stream transform: a ResponsesRepairer between a body and its reader. */
export function responsesRepairStream(): TransformStream<Uint8Array, Uint8Array> {
  const r = new ResponsesRepairer();
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      for (const out of r.push(chunk)) controller.enqueue(out);
    },
    flush(controller) {
      for (const out of r.end()) controller.enqueue(out);
    },
  });
}

/**
 * The repair of one stream, synchronous: push() the body's chunks as they
 * come, then end(); each returns the events completed so far, in order.
 */
export class ResponsesRepairer {
  private readonly indexer = new Indexer();
  private buf = new Uint8Array(0);
  private scan = 0; // bytes of buf already searched for line ends
  private lineStart = 0;
  private first = true;

  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (chunk.length === 0) return out;
    let buf = new Uint8Array(this.buf.length + chunk.length);
    buf.set(this.buf);
    buf.set(chunk, this.buf.length);
    let i = this.scan;
    let lineStart = this.lineStart;
    while (i < buf.length) {
      i = lineEnd(buf, i);
      if (i === buf.length) break;
      if (buf[i] === CR && i + 1 === buf.length) break; // CR or CRLF? the next chunk tells
      const end = buf[i] === CR && buf[i + 1] === LF ? i + 2 : i + 1;
      const blank = i === lineStart;
      lineStart = i = end;
      if (blank) {
        out.push(this.event(buf.subarray(0, end)));
        buf = buf.subarray(end);
        lineStart = i = 0;
      }
    }
    this.buf = buf;
    this.scan = i;
    this.lineStart = lineStart;
    return out;
  }

  /** The rest: an event the stream ended in without its blank line, if any. */
  end(): Uint8Array[] {
    const rest = this.buf;
    this.buf = new Uint8Array(0);
    this.scan = this.lineStart = 0;
    return rest.length > 0 ? [this.event(rest)] : [];
  }

  private event(bytes: Uint8Array): Uint8Array {
    const first = this.first;
    this.first = false;
    return repairEvent(bytes, this.indexer, first);
  }
}

/** The first CR or LF at or after from (buf.length when none). */
function lineEnd(buf: Uint8Array, from: number): number {
  let lf = buf.indexOf(LF, from);
  if (lf < 0) lf = buf.length;
  const cr = buf.subarray(from, lf).indexOf(CR);
  return cr < 0 ? lf : from + cr;
}

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** One event's bytes, repaired or (much more often) as they came. */
function repairEvent(bytes: Uint8Array, indexer: Indexer, streamStart: boolean): Uint8Array {
  const text = attempt<string | undefined>(() => decoder.decode(bytes), undefined);
  if (text === undefined) return bytes; // not UTF-8: not ours to touch
  // Each line's content and line end ("" for the last when the event has no blank line).
  const lines = [...text.matchAll(/([^\r\n]*)(\r\n|\r|\n|$)/g)].map((m) => [m[1] ?? "", m[2] ?? ""] as const);
  const bom = streamStart && text.startsWith("\uFEFF") ? "\uFEFF" : "";
  const data: string[] = [];
  const dataLines = new Set<number>();
  lines.forEach(([content], n) => {
    const line = n === 0 ? content.slice(bom.length) : content;
    const colon = line.indexOf(":");
    if ((colon < 0 ? line : line.slice(0, colon)) !== "data") return;
    const value = colon < 0 ? "" : line.slice(colon + 1);
    data.push(value.startsWith(" ") ? value.slice(1) : value);
    dataLines.add(n);
  });
  if (data.length === 0) return bytes;
  const event: unknown = attempt(() => JSON.parse(data.join("\n")), undefined); // not JSON: e.g. data: [DONE]
  if (!isRecord(event) || !indexer.repair(event)) return bytes;

  // The first data: line carries the repaired JSON; the other data: lines go;
  // every other line stays as it was, line end included.
  const [first] = dataLines;
  let out = "";
  lines.forEach(([content, end], n) => {
    if (n === first) out += `${n === 0 ? bom : ""}data: ${JSON.stringify(event)}${end}`;
    else if (!dataLines.has(n)) out += content + end;
  });
  return encoder.encode(out);
}

/** A position in a list of an item's parts: the last one opened, and the next free one. */
class Slot {
  current = -1;
  next = 0;

  /** The index for an event of this kind; `opens` for the event that starts a new part. */
  take(present: unknown, opens: boolean): number {
    const idx = typeof present === "number" ? present : opens ? this.next : Math.max(this.current, 0);
    this.current = idx;
    this.next = Math.max(this.next, idx + 1);
    return idx;
  }
}

interface ItemState { output: number; content: Slot; summary: Slot }

// Events whose `content_index` points into the item's `content`, and those
// whose `summary_index` points into a reasoning item's `summary`.
const CONTENT = ["response.content_part.", "response.output_text.", "response.refusal.", "response.reasoning_text."];
const SUMMARY = ["response.reasoning_summary_part.", "response.reasoning_summary_text."];

/**
 * The indices of one stream. Items are numbered in order of arrival (first
 * event naming the item, normally response.output_item.added); an index the
 * gateway did send is kept, recorded for the item's later events, and moves
 * the counter past it. Parts: `*.added` opens the next part of that item;
 * other events belong to the part opened last (0 when none was).
 */
class Indexer {
  private readonly items = new Map<string, ItemState>();
  private nextOutput = 0;

  /** Adds the missing indices to event; true when it changed. */
  repair(event: Record<string, unknown>): boolean {
    const type = event["type"];
    if (typeof type !== "string" || !type.startsWith("response.")) return false;
    const item = event["item"];
    const id = isRecord(item) && typeof item["id"] === "string" ? item["id"] : event["item_id"];
    if (typeof id !== "string") return false;

    let st = this.items.get(id);
    if (st === undefined) {
      const given = event["output_index"];
      st = { output: typeof given === "number" ? given : this.nextOutput, content: new Slot(), summary: new Slot() };
      this.nextOutput = Math.max(this.nextOutput, st.output + 1);
      this.items.set(id, st);
    }
    let changed = false;
    const fill = (key: string, idx: number): void => {
      if (event[key] === undefined || event[key] === null) {
        event[key] = idx;
        changed = true;
      }
    };
    fill("output_index", st.output);
    const part = CONTENT.some((p) => type.startsWith(p))
      ? { key: "content_index", slot: st.content, opens: type === "response.content_part.added" }
      : SUMMARY.some((p) => type.startsWith(p))
        ? { key: "summary_index", slot: st.summary, opens: type === "response.reasoning_summary_part.added" }
        : undefined;
    if (part !== undefined) fill(part.key, part.slot.take(event[part.key], part.opens));
    return changed;
  }
}
