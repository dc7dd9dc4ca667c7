import { connect, type AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/** Listens on a free loopback port (for raw-socket tests; supertest uses the same server). */
export async function startListening(app: NestFastifyApplication): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return (app.getHttpServer().address() as AddressInfo).port;
}

export interface RawResponse {
  /** 0 when the server closed without answering. */
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  text: string;
  /** The server closed the connection. */
  closed: boolean;
  /** We closed it after `maxMs` (the server did not). */
  gaveUp: boolean;
}

/**
 * Sends bytes the HTTP clients refuse to send (bad header bytes, bad methods), optionally
 * dripping more (`drip` every `everyMs`) like a slow client, and reads until the server closes
 * the connection, or `maxMs` passes.
 */
export function rawRequest(
  port: number,
  data: string | Buffer,
  opts: { drip?: string; everyMs?: number; maxMs?: number } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    let gaveUp = false;
    let dripper: NodeJS.Timeout | undefined;
    const bound = setTimeout(() => {
      gaveUp = true;
      socket.destroy();
    }, opts.maxMs ?? 5_000);
    socket.on('connect', () => {
      if (data.length > 0) socket.write(data);
      if (opts.drip) {
        dripper = setInterval(() => {
          if (socket.writable) socket.write(opts.drip!);
        }, opts.everyMs ?? 100);
      }
    });
    socket.on('data', (chunk) => chunks.push(chunk));
    // The server may reset the connection while we write: it still closed it.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(bound);
      clearInterval(dripper);
      try {
        resolve({ ...parse(Buffer.concat(chunks).toString('utf8')), closed: !gaveUp, gaveUp });
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}

function parse(text: string): Pick<RawResponse, 'status' | 'headers' | 'body' | 'text'> {
  if (!text) return { status: 0, headers: {}, body: {}, text };
  const [head, ...rest] = text.split('\r\n\r\n');
  const [statusLine, ...headerLines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let raw = rest.join('\r\n\r\n');
  if (headers['transfer-encoding'] === 'chunked') raw = unchunk(raw);
  let body: Record<string, unknown> = {};
  try {
    body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
  } catch {
    // Not JSON: `text` has it, and callers asserting the error shape will say so.
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body, text };
}

function unchunk(raw: string): string {
  let out = '';
  let rest = raw;
  for (;;) {
    const eol = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, eol), 16);
    if (!size) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}
