/**
 * A TCP proxy in front of wiremesh nodes for reconnect tests: clients connect to the proxy, which
 * pipes each connection to the current target port. `drop()` cuts every open connection (a phone
 * switching networks); `target` decides where the next connections go (the same node, or another
 * after a deploy or a dead node).
 */
import net from 'node:net';
import { once } from 'node:events';

export class SwitchProxy {
  private readonly server: net.Server;
  private readonly open = new Set<net.Socket>();
  port = 0;
  /** Connections made so far (each reconnect is one). */
  connections = 0;

  constructor(public target: number) {
    this.server = net.createServer((client) => {
      this.connections++;
      const upstream = net.connect(this.target, '127.0.0.1');
      this.open.add(client).add(upstream);
      const close = (): void => {
        client.destroy();
        upstream.destroy();
        this.open.delete(client);
        this.open.delete(upstream);
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
      client.pipe(upstream).pipe(client);
    });
  }

  async listen(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  /** Cuts every open connection at once, without a close handshake. */
  drop(): void {
    for (const s of this.open) s.destroy();
    this.open.clear();
  }

  async close(): Promise<void> {
    this.drop();
    this.server.close();
    await once(this.server, 'close');
  }
}
