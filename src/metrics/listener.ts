/**
 * `/metrics` on its own address and port (config `metricsPort`/`metricsHost`), apart from the
 * port browsers and publishers reach, as Soketi's 9601. Answers GET /metrics only; everything
 * else is 404. A token, when set, is checked here too, by the same gate as the API port's /metrics.
 */
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.js';
import type { HttpHead, HttpResponse } from '../transport/types.js';

/** Who may read the metrics: null to serve them, otherwise the refusal to answer. */
export interface MetricsGate {
  refuse(req: Pick<HttpHead, 'headers'>): HttpResponse | null;
}

export interface MetricsListenerOptions {
  host: string;
  port: number;
  access: MetricsGate;
  render: () => Promise<string>;
  logger: Logger;
  /** A request refused for its token (counted and logged by the caller). */
  onRefused: (address: string) => void;
}

export class MetricsListener {
  private readonly server: http.Server;

  constructor(private readonly opts: MetricsListenerOptions) {
    this.server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) =>
      this.serve(req, res),
    );
    this.server.on('clientError', (err, socket) => {
      opts.logger.debug('metrics listener client error', { err });
      socket.destroy();
    });
  }

  async listen(): Promise<number> {
    this.server.listen(this.opts.port, this.opts.host);
    await once(this.server, 'listening');
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    if (!this.server.listening) return;
    this.server.close();
    await once(this.server, 'close');
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      this.send(res, 404, 'Not found\n', 'text/plain; charset=utf-8');
      return;
    }
    const refusal = this.opts.access.refuse({ headers: { authorization: req.headers.authorization ?? '' } });
    if (refusal !== null) {
      this.opts.onRefused(req.socket.remoteAddress ?? '');
      res.writeHead(refusal.status, { ...refusal.headers, 'content-length': Buffer.byteLength(refusal.body) });
      res.end(refusal.body);
      return;
    }
    this.opts.render().then(
      (body) => this.send(res, 200, body, 'text/plain; version=0.0.4'),
      (err: unknown) => {
        this.opts.logger.error('metrics rendering failed', { err });
        this.send(res, 500, 'Internal server error\n', 'text/plain; charset=utf-8');
      },
    );
  }

  private send(res: http.ServerResponse, status: number, body: string, contentType: string): void {
    res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
}
