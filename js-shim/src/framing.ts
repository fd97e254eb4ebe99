// Content-Length framing of protocol/protocol.md (the LSP base protocol):
// byte lengths of UTF-8 bodies, any chunking of the stream, a 4 MiB limit.

export const MAX_FRAME_BYTES = 4 * 1024 * 1024;
const MAX_HEADER_BYTES = 8 * 1024;

export class FrameError extends Error { override name = "FrameError"; }

const HEADER_END = Buffer.from("\r\n\r\n", "latin1");

/** Encodes one message as an LSP-style frame; the length is in bytes of UTF-8. */
export function encodeFrame(message: unknown, maxBytes = MAX_FRAME_BYTES): Buffer {
  const body = Buffer.from(JSON.stringify(message), "utf8");
  if (body.length > maxBytes) throw new FrameError(`message of ${body.length} bytes exceeds the ${maxBytes}-byte frame limit`);
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, "latin1"), body]);
}

/**
 * Incremental decoder. push() takes any chunking of the byte stream and
 * returns the complete bodies (decoded as UTF-8 only once whole, so a
 * multi-byte character split across chunks is fine). Throws FrameError on a
 * malformed header or an oversized frame; the stream is unusable after that.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private bodyLength = -1;

  constructor(private readonly maxBodyBytes = MAX_FRAME_BYTES) {}

  push(chunk: Buffer): string[] {
    const out: string[] = [];
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    for (;;) {
      if (this.bodyLength < 0) {
        const buf = this.take();
        const end = buf.indexOf(HEADER_END);
        if ((end < 0 ? buf.length : end) > MAX_HEADER_BYTES) throw new FrameError(`frame header longer than ${MAX_HEADER_BYTES} bytes`);
        if (end < 0) return out;
        this.bodyLength = this.parseHeader(buf.subarray(0, end).toString("latin1"));
        this.set(buf.subarray(end + HEADER_END.length));
      }
      if (this.buffered < this.bodyLength) return out;
      const buf = this.take();
      out.push(buf.toString("utf8", 0, this.bodyLength));
      this.set(buf.subarray(this.bodyLength));
      this.bodyLength = -1;
    }
  }

  private take(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private set(rest: Buffer): void {
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
  }

  private parseHeader(header: string): number {
    let length: number | undefined;
    for (const line of header.split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon <= 0) throw new FrameError(`malformed frame header line ${JSON.stringify(line.slice(0, 80))}`);
      if (line.slice(0, colon).trim().toLowerCase() !== "content-length") continue;
      const value = line.slice(colon + 1).trim();
      if (!/^\d{1,12}$/.test(value)) throw new FrameError(`invalid Content-Length ${JSON.stringify(value.slice(0, 40))}`);
      length = Number(value);
    }
    if (length === undefined) throw new FrameError("frame header without Content-Length");
    if (length > this.maxBodyBytes) throw new FrameError(`frame of ${length} bytes exceeds the ${this.maxBodyBytes}-byte limit`);
    return length;
  }
}
