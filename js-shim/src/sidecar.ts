// The sidecar process and its JSON-RPC 2.0 client (protocol/protocol.md):
// deadlines, notifications, and supervision (restart once per failure,
// bounded start attempts, kill on dispose). Nothing here knows about OAuth.

import { spawn, type ChildProcess } from "node:child_process";
import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES } from "./framing.js";
import type { ApplyResult, HeadersResult, LoginResult } from "./protocol.js";

export const PROTOCOL_VERSION = 1;

export class RpcError extends Error {
  override name = "RpcError";
  constructor(readonly method: string, readonly code: number, message: string, readonly data: unknown) {
    super(message);
  }
}

/** The sidecar process is gone (or could not start). */
export class SidecarExitedError extends Error { override name = "SidecarExitedError"; }
export class SidecarTimeoutError extends Error { override name = "SidecarTimeoutError"; }
/** The sidecar speaks another protocol version: restarting cannot help. */
export class IncompatibleSidecarError extends Error { override name = "IncompatibleSidecarError"; }

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function attempt<T>(f: () => T, fallback: T): T {
  try {
    return f();
  } catch {
    return fallback;
  }
}

/** Runs f, ignoring what it throws (a dead pipe, a handler's bug: reported elsewhere or not ours). */
export const quietly = (f: () => unknown): void => attempt(f, undefined) as void;

/** A refusal's reason (the data of a token error), if any. */
export function errorReason(e: unknown): string | undefined {
  return e instanceof RpcError && isRecord(e.data) ? String(e.data["reason"]) : undefined;
}

// ---------------------------------------------------------------- connection

interface InitializeResult { protocolVersion: number; version: string }
/** Each request's result (protocol.md). */
interface Results { initialize: InitializeResult; "config/apply": ApplyResult; "headers/get": HeadersResult; login: LoginResult; "login/paste": null; shutdown: null }
type Method = keyof Results;

export const DEFAULT_DEADLINES: Readonly<Record<Method, number>> = {
  initialize: 5_000, "config/apply": 20_000, "headers/get": 60_000, login: 330_000, "login/paste": 60_000, shutdown: 2_000,
};

/** A message from the pinned sidecar (JSON-RPC 2.0). */
interface Message { id?: number | null; method?: string; params?: unknown; result?: unknown; error?: { code: number; message: string; data?: unknown } | null }
interface Pending { method: string; resolve: (v: unknown) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }

/** One child process and the JSON-RPC session over its stdio. */
class Connection {
  readonly child: ChildProcess;
  alive = true;
  /** Set when we stop it on purpose (no "exited unexpectedly" report). */
  expected = false;
  readonly closed: Promise<void>;
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly stderrTail: string[] = [];
  private stderrPartial = "";
  private exitReason = "";
  private finished = false;
  // Belt and braces: the child also sees EOF when the host goes away.
  private readonly onHostExit = (): void => this.kill("SIGTERM");

  constructor(private readonly opts: SidecarOptions, private readonly onExit: (conn: Connection, reason: string) => void) {
    this.decoder = new FrameDecoder(opts.maxFrameBytes ?? MAX_FRAME_BYTES);
    const child = (this.child = spawn(opts.binary, [...(opts.args ?? ["serve"])], { stdio: ["pipe", "pipe", "pipe"], env: opts.env, windowsHide: true }));
    let closedResolve: () => void = () => {};
    this.closed = new Promise((r) => (closedResolve = r));

    // The child must not keep the host alive: pending requests keep it alive
    // through their (ref'd) deadline timers instead.
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) {
      (s as { unref?: () => void } | null)?.unref?.();
      s?.on("error", () => {}); // EPIPE after the child died: reported through exit/close
    }
    process.once("exit", this.onHostExit);
    child.stdout?.on("data", (chunk: Buffer) => this.onData(chunk));
    child.stderr?.on("data", (chunk: Buffer) => this.onStderrData(chunk));

    let fallback: ReturnType<typeof setTimeout> | undefined;
    const finish = (): void => {
      clearTimeout(fallback);
      if (this.finished) return;
      this.finished = true;
      process.removeListener("exit", this.onHostExit);
      this.alive = false;
      this.flushStderr();
      const reason = this.describeExit();
      this.failAll(new SidecarExitedError(reason));
      this.onExit(this, reason);
      closedResolve();
    };
    child.on("error", (err) => {
      // Only a failed spawn (ENOENT, EACCES) ends the connection; a failed
      // kill() of a live process also lands here and changes nothing.
      if (child.pid !== undefined) return;
      this.exitReason ||= `could not be started: ${err.message}`;
      finish();
    });
    child.on("exit", (code, signal) => {
      this.exitReason ||= signal !== null ? `was killed by ${signal}` : `exited with code ${String(code)}`;
      this.alive = false;
      // stdout may still hold the last answers: wait for 'close', but not forever
      // (a grandchild could hold the pipes open).
      fallback = setTimeout(finish, 500);
      fallback.unref();
    });
    child.on("close", finish);
  }

  describeExit(): string {
    const tail = this.stderrTail.length > 0 ? `; its last output: ${this.stderrTail.join(" | ")}` : "";
    return `the opencode-oauth2 sidecar (${this.opts.binary}) ${this.exitReason || "exited"}${tail}`;
  }

  request(method: string, params: unknown, timeoutMs: number): Promise<unknown> {
    if (!this.alive) return Promise.reject(new SidecarExitedError(this.describeExit()));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const frame = encodeFrame({ jsonrpc: "2.0", id, method, params }); // throws (rejects) when too large
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SidecarTimeoutError(`the opencode-oauth2 sidecar did not answer ${method} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, { method, resolve, reject, timer });
      this.write(frame);
    });
  }

  notify(method: string, params: unknown): void {
    if (this.alive) this.write(encodeFrame({ jsonrpc: "2.0", method, params }));
  }

  private write(frame: Buffer): void {
    quietly(() => this.child.stdin?.write(frame)); // a dead child is reported through exit
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) quietly(() => this.child.kill(signal));
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  private protocolFailure(reason: string): void {
    this.exitReason = `broke the protocol (${reason}) and was stopped`;
    this.failAll(new SidecarExitedError(this.describeExit()));
    this.alive = false;
    this.kill("SIGKILL");
  }

  private onData(chunk: Buffer): void {
    if (this.finished) return;
    try {
      for (const body of this.decoder.push(chunk)) {
        const msg = attempt(() => JSON.parse(body) as Message, undefined);
        if (msg === undefined) return this.protocolFailure("a frame is not valid JSON");
        this.dispatch(msg);
      }
    } catch (e) {
      this.protocolFailure(errorMessage(e));
    }
  }

  private dispatch(msg: Message): void {
    if (msg.method !== undefined) {
      // The protocol defines no requests from the sidecar.
      if (msg.id == null) quietly(() => this.opts.onNotification?.(msg.method as string, msg.params));
      else this.write(encodeFrame({ jsonrpc: "2.0", id: msg.id, error: { code: -32601, message: `method not found: ${msg.method}` } }));
      return;
    }
    const p = msg.id == null ? undefined : this.pending.get(msg.id);
    if (p === undefined) return; // late answer after a deadline
    this.pending.delete(msg.id as number);
    clearTimeout(p.timer);
    if (msg.error != null) p.reject(new RpcError(p.method, msg.error.code, msg.error.message, msg.error.data));
    else p.resolve(msg.result ?? null);
  }

  private onStderrData(chunk: Buffer): void {
    const lines = (this.stderrPartial + chunk.toString("utf8")).split("\n");
    this.stderrPartial = lines.pop() ?? "";
    for (const l of lines) this.stderrLine(l);
    if (this.stderrPartial.length > 64 * 1024) this.flushStderr();
  }

  private flushStderr(): void {
    if (this.stderrPartial !== "") this.stderrLine(this.stderrPartial);
    this.stderrPartial = "";
  }

  private stderrLine(raw: string): void {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") return;
    this.stderrTail.push(line.length > 300 ? `${line.slice(0, 300)}…` : line);
    if (this.stderrTail.length > 5) this.stderrTail.shift();
    quietly(() => this.opts.onStderr?.(line));
  }
}

// ---------------------------------------------------------------- supervisor

/** initialize's params but protocolVersion, which the client adds. */
export interface InitializeParams {
  interactive: boolean;
  hostVersion?: string | undefined;
  hostPath?: string;
  logLevel?: string | undefined; // as OpenCode has it: the sidecar reads it
  directory?: string | undefined;
  binary?: { path: string; source: string; check: string };
}

interface SidecarOptions {
  binary: string;
  /** Checks the binary again before each spawn (throws to refuse it). */
  verify?: () => void;
  args?: readonly string[]; // default ["serve"]
  env?: NodeJS.ProcessEnv;
  /** Called before every (re)start, so it reflects the latest settings. */
  initializeParams: () => InitializeParams;
  onNotification?: (method: string, params: unknown) => void;
  onStderr?: (line: string) => void;
  onUnexpectedExit?: (reason: string) => void; // not after dispose()
  /** A restarted sidecar is up (initialized): the adapter applies its configuration again. */
  onStarted?: () => Promise<void>;
  maxStartAttempts?: number; // consecutive failed starts before giving up (default 3)
  startBackoffMs?: number; // pause between them, times the attempt number (default 200 ms)
  cooldownMs?: number; // after giving up, requests fail at once for this long (default 30 s)
  deadlines?: Partial<Record<Method, number>>;
  maxFrameBytes?: number;
}

const shutDown = (): SidecarExitedError => new SidecarExitedError("the opencode-oauth2 sidecar was shut down");

/**
 * A supervised sidecar. Lazily started by the first request; a request that
 * finds it dead starts a new one (initialize + the last config/apply). A
 * headers/get whose sidecar dies under it is retried once on a new sidecar.
 * Starting is attempted a bounded number of times, then requests fail with the
 * last start error for a cooldown, so a crashing binary is never a loop.
 */
export class Sidecar {
  private conn: Connection | undefined;
  private starting: Promise<Connection> | undefined;
  private failedUntil = 0;
  private lastStartError: Error | undefined;
  private disposed = false;
  private readonly deadlines: Record<Method, number>;
  /** How many processes were spawned (a restart re-applies the configuration). */
  spawnCount = 0;

  constructor(private readonly opts: SidecarOptions) {
    this.deadlines = { ...DEFAULT_DEADLINES, ...opts.deadlines };
  }

  get pid(): number | undefined {
    return this.conn?.alive === true ? this.conn.child.pid : undefined;
  }

  async request<M extends Method>(method: M, params: unknown, timeoutMs?: number): Promise<Results[M]> {
    const deadline = timeoutMs ?? this.deadlines[method] ?? 30_000;
    const conn = await this.ensure();
    try {
      return (await conn.request(method, params, deadline)) as Results[M];
    } catch (e) {
      if (!(e instanceof SidecarExitedError) || method !== "headers/get" || this.disposed) throw e;
      // Restart once for this failure and retry: headers/get is idempotent.
      return (await (await this.ensure()).request(method, params, deadline)) as Results[M];
    }
  }

  /** Sends a notification to the running sidecar (none is started for it). */
  notify(method: string, params: unknown): void {
    if (this.conn?.alive === true) this.conn.notify(method, params);
  }

  private ensure(): Promise<Connection> {
    if (this.disposed) return Promise.reject(shutDown());
    if (this.conn?.alive === true) return Promise.resolve(this.conn);
    if (this.starting !== undefined) return this.starting;
    if (Date.now() < this.failedUntil && this.lastStartError !== undefined) return Promise.reject(this.lastStartError);
    return (this.starting = this.startWithRetries().finally(() => (this.starting = undefined)));
  }

  private async startWithRetries(): Promise<Connection> {
    const attempts = Math.max(1, this.opts.maxStartAttempts ?? 3);
    let last: Error = new Error("no attempt");
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const conn = await this.startOnce();
        this.failedUntil = 0;
        this.lastStartError = undefined;
        return conn;
      } catch (e) {
        last = e instanceof Error ? e : new Error(String(e));
        if (e instanceof IncompatibleSidecarError || this.disposed) break;
        if (attempt < attempts) await new Promise((r) => setTimeout(r, (this.opts.startBackoffMs ?? 200) * attempt));
      }
    }
    if (this.disposed) throw last;
    this.lastStartError =
      last instanceof IncompatibleSidecarError
        ? last
        : new SidecarExitedError(`the opencode-oauth2 sidecar could not be started (${attempts} attempts): ${last.message}`);
    this.failedUntil = Date.now() + (this.opts.cooldownMs ?? 30_000);
    throw this.lastStartError;
  }

  private async startOnce(): Promise<Connection> {
    this.opts.verify?.();
    this.spawnCount++;
    const conn = new Connection(this.opts, (c, reason) => {
      if (c === this.conn && !c.expected && !this.disposed) this.opts.onUnexpectedExit?.(reason);
    });
    try {
      const incompatible = (theirs: unknown, mismatch = ""): IncompatibleSidecarError =>
        new IncompatibleSidecarError(
          `the opencode-oauth2 sidecar (${this.opts.binary}) speaks protocol version ${String(theirs ?? "?")}, this plugin speaks ` +
            `${PROTOCOL_VERSION}: install matching versions of @vymalo/opencode-oauth2 and its platform package${mismatch}`,
        );
      const params = { protocolVersion: PROTOCOL_VERSION, ...this.opts.initializeParams() };
      const r = (await conn.request("initialize", params, this.deadlines.initialize).catch((e: unknown) => {
        if (!(e instanceof RpcError && e.code === -32001)) throw e;
        throw incompatible(isRecord(e.data) ? e.data["expected"] : undefined, ` (${e.message})`);
      })) as InitializeResult;
      if (r.protocolVersion !== PROTOCOL_VERSION) throw incompatible(r.protocolVersion);
      if (this.disposed) throw shutDown();
      this.conn = conn;
      if (this.spawnCount > 1) await this.opts.onStarted?.().catch(() => undefined);
      return conn;
    } catch (e) {
      conn.kill("SIGKILL");
      throw e;
    }
  }

  /** shutdown, close stdin, then make sure the process is gone. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    // A start in progress finishes (and is then killed) before we look.
    await this.starting?.catch(() => undefined);
    const conn = this.conn;
    this.conn = undefined;
    if (conn === undefined) return;
    conn.expected = true;
    if (conn.alive) await conn.request("shutdown", {}, this.deadlines.shutdown).catch(() => undefined); // killed below anyway
    quietly(() => conn.child.stdin?.end());
    const within = (p: Promise<unknown>): Promise<boolean> =>
      Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 1_000))]);
    if (!(await within(conn.closed))) {
      conn.kill("SIGKILL");
      await within(conn.closed);
    }
  }
}
