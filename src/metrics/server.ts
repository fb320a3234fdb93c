/**
 * The Prometheus endpoint: GET /metrics (the registry in the text exposition format), GET
 * /healthz ("ok" while tracing, 503 before and after), and 4xx for anything else. Malformed requests are answered
 * by Node's HTTP parser with 400 and never reach the tracing side; a scrape does no more
 * than read counters, so any number of them cannot slow the reader of the ring.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TsbpfError } from '../errors.js';
import type { Registry } from 'prom-client';
import { quoted } from '../text.js';

export interface ListenAddress {
  /** Empty: every interface. */
  host: string;
  port: number;
}

/** "9464", ":9464", "127.0.0.1:9464", "[::1]:9464". */
export function parseListenAddress(text: string): ListenAddress {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):)?(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new TsbpfError(`--metrics ${quoted(text)}: expected [HOST:]PORT, e.g. 9464 or 127.0.0.1:9464`);
  return { host: (m[1] ?? '').replace(/^\[|\]$/g, ''), port };
}

export class MetricsServer {
  private healthy = false;

  private constructor(private readonly server: Server, readonly address: ListenAddress) {}

  /** Listens on `at`; the registry is read at every scrape. */
  static async listen(registry: Registry, at: ListenAddress): Promise<MetricsServer> {
    let self: MetricsServer | undefined;
    const server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => void serve(registry, () => self?.healthy ?? false, req, res));
    // Bad requests (Node's parser refuses them) get a 400 and a closed socket, nothing more.
    server.on('clientError', (e: NodeJS.ErrnoException, socket) => {
      const status = e.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      else socket.destroy();
    });
    server.maxHeadersCount = 64;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(new TsbpfError(`--metrics ${at.host || '*'}:${at.port}: cannot listen (${e.code ?? e.message})${e.code === 'EADDRINUSE' ? ': the port is taken; choose another' : ''}`)),
      );
      server.listen(at.port, at.host || undefined, () => resolve());
    });
    server.unref(); // the tracing decides when the process ends, not the endpoint
    const a = server.address() as AddressInfo;
    self = new MetricsServer(server, { host: a.address, port: a.port });
    return self;
  }

  /** /healthz answers 200 from now on (tracing has started)... */
  ready(): void {
    this.healthy = true;
  }

  /** ...and 503 again once it has ended. */
  unhealthy(): void {
    this.healthy = false;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

async function serve(registry: Registry, healthy: () => boolean, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  const reply = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
    res.writeHead(code, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  if (path !== '/metrics' && path !== '/healthz' && path !== '/') return reply(404, 'not found: try /metrics or /healthz\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return reply(405, 'method not allowed\n');
  }
  if (path === '/') return reply(200, '<html><body><a href="/metrics">/metrics</a> <a href="/healthz">/healthz</a></body></html>\n', 'text/html; charset=utf-8');
  if (path === '/healthz') return healthy() ? reply(200, 'ok\n') : reply(503, 'tracing has stopped\n');
  try {
    reply(200, await registry.metrics(), registry.contentType);
  } catch (e) {
    reply(500, `cannot collect metrics: ${(e as Error).message}\n`);
  }
}
