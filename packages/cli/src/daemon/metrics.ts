/**
 * The watch daemon's Prometheus metrics (`ksync watch --metrics-addr HOST:PORT`, off by
 * default), the same kinds the agent exposes: syncs and targets, content moved, cycle durations,
 * conflicts, problems and reconnects. Counters are fed by the runners as things happen (so they
 * survive a target being replaced); gauges are read from the live views when scraped. The text
 * format is `@ksync/agent/prometheus`, shared with the agent.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CycleReport } from '@ksync/core';
import {
  Histogram,
  METRICS_CONTENT_TYPE,
  renderMetrics,
  residentMemoryFamily,
} from '@ksync/agent/prometheus';
import { UserError } from '../errors.ts';
import type { SyncView } from '../view.ts';

/** Upper bounds of the cycle-duration buckets, in seconds. */
const CYCLE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** What the runners count; `render` adds the gauges of the live syncs. */
export class DaemonMetrics {
  #bytes = 0;
  #files = 0;
  readonly #applied = { local: 0, remote: 0 };
  #cycleErrors = 0;
  #reconnects = 0;
  readonly #cycles = new Histogram(CYCLE_BUCKETS);

  /** Records one completed cycle. */
  observeCycle(report: CycleReport, durationMs: number): void {
    this.#cycles.observe(durationMs / 1000);
    this.#bytes += report.transferredBytes;
    this.#files += report.transferredFiles;
    this.#applied.local += report.appliedLocal;
    this.#applied.remote += report.appliedRemote;
  }

  /** Counts a cycle that failed (the runner then reconnects). */
  addCycleError(): void {
    this.#cycleErrors++;
  }

  /** Counts a connection made again after a drop or a failure. */
  addReconnect(): void {
    this.#reconnects++;
  }

  /** The text exposition, with gauges taken from `views` (one per sync). */
  render(views: readonly SyncView[]): string {
    const states = new Map<string, number>();
    for (const v of views) states.set(v.state, (states.get(v.state) ?? 0) + 1);
    const targets = views.reduce((n, v) => n + (v.targets?.length ?? 1), 0);
    return renderMetrics([
      {
        name: 'ksync_syncs',
        type: 'gauge',
        help: 'Syncs this watch runs, by state.',
        samples: [...states].map(([state, value]) => ({ labels: { state }, value })),
      },
      {
        name: 'ksync_targets',
        type: 'gauge',
        help: 'Remote sides being synced (one per direct sync, one per container).',
        samples: [{ value: targets }],
      },
      {
        name: 'ksync_bytes_total',
        type: 'counter',
        help: 'File content bytes transferred, both ways.',
        samples: [{ value: this.#bytes }],
      },
      {
        name: 'ksync_files_total',
        type: 'counter',
        help: 'Files transferred, both ways.',
        samples: [{ value: this.#files }],
      },
      {
        name: 'ksync_applied_changes_total',
        type: 'counter',
        help: 'Changes applied, by the side they landed on.',
        samples: (['local', 'remote'] as const).map((side) => ({
          labels: { side },
          value: this.#applied[side],
        })),
      },
      this.#cycles.family('ksync_cycle_duration_seconds', 'Time of one completed sync cycle.'),
      {
        name: 'ksync_cycle_errors_total',
        type: 'counter',
        help: 'Cycles that failed (each followed by a reconnect).',
        samples: [{ value: this.#cycleErrors }],
      },
      {
        name: 'ksync_conflicts',
        type: 'gauge',
        help: 'Recorded conflicts.',
        samples: [{ value: views.reduce((n, v) => n + v.conflicts, 0) }],
      },
      {
        name: 'ksync_problems',
        type: 'gauge',
        help: 'Paths the last cycles could not sync.',
        samples: [{ value: views.reduce((n, v) => n + v.problems.length, 0) }],
      },
      {
        name: 'ksync_reconnects_total',
        type: 'counter',
        help: 'Connections to an agent made again after a drop or a failure.',
        samples: [{ value: this.#reconnects }],
      },
      residentMemoryFamily(),
    ]);
  }
}

/** `HOST:PORT` (`[::1]:9464` for IPv6) as given to `--metrics-addr`; a `UserError` otherwise. */
export function parseMetricsAddr(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  const host = match?.[1] ?? match?.[2];
  if (host === undefined || !(port >= 0 && port <= 65535)) {
    throw new UserError(
      `--metrics-addr ${text} is not HOST:PORT; pass e.g. --metrics-addr 127.0.0.1:9464`,
    );
  }
  return { host, port };
}

/** A listening metrics endpoint. */
export interface MetricsServer {
  /** Where it listens, as `host:port`. */
  readonly address: string;
  close(): Promise<void>;
}

/** Serves `GET /metrics` (the text of `render()`) on `host:port` until closed. */
export async function serveMetrics(options: {
  readonly host: string;
  readonly port: number;
  readonly render: () => string;
}): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE });
      res.end(options.render());
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found; metrics are at /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new UserError(
          `cannot serve metrics on ${options.host}:${options.port} (${error.code ?? error.message}); pass another --metrics-addr`,
        ),
      ),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    address: `${address.includes(':') ? `[${address}]` : address}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
