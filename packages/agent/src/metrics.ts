/**
 * The agent's Prometheus metrics, served as text at `/metrics` on its loopback listener; the
 * exposition itself is `prometheus.ts`, shared with the CLI daemon's metrics.
 */
import { Histogram, renderMetrics, residentMemoryFamily } from './prometheus.ts';

/** Which way bytes or files moved: `in` = written into the served root, `out` = read from it. */
export type Direction = 'in' | 'out';

/** Upper bounds of the apply-latency buckets, in seconds. */
const APPLY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Counters and gauges the server updates; `render` formats them. */
export class AgentMetrics {
  /** Connections with an opened target. */
  openTargets = 0;
  readonly #bytes: Record<Direction, number> = { in: 0, out: 0 };
  readonly #files: Record<Direction, number> = { in: 0, out: 0 };
  #hashed = 0;
  readonly #errors = new Map<string, number>();
  #applyProblems = 0;
  readonly #apply = new Histogram(APPLY_BUCKETS);

  /** Counts content bytes moved. */
  addBytes(direction: Direction, bytes: number): void {
    this.#bytes[direction] += bytes;
  }

  /** Counts files moved: `in` = written by an apply, `out` = content read by the client. */
  addFiles(direction: Direction, files: number): void {
    this.#files[direction] += files;
  }

  /** Counts a file hashed by a scan (one whose stat did not match a trusted record). */
  addHashed(): void {
    this.#hashed++;
  }

  /** Counts a failed request (by its message type) or a refused open (`open`). */
  addError(request: string): void {
    this.#errors.set(request, (this.#errors.get(request) ?? 0) + 1);
  }

  /** Records one apply: its duration and how many of its changes did not land. */
  observeApply(seconds: number, problems: number): void {
    this.#applyProblems += problems;
    this.#apply.observe(seconds);
  }

  /** The Prometheus text exposition (version 0.0.4) of every metric. */
  render(): string {
    const directions = (values: Record<Direction, number>) =>
      (['in', 'out'] as const).map((d) => ({ labels: { direction: d }, value: values[d] }));
    return renderMetrics([
      {
        name: 'ksync_agent_open_targets',
        type: 'gauge',
        help: 'Connections with an opened target.',
        samples: [{ value: this.openTargets }],
      },
      {
        name: 'ksync_agent_bytes_total',
        type: 'counter',
        help: 'File content bytes moved, by direction.',
        samples: directions(this.#bytes),
      },
      {
        name: 'ksync_agent_files_total',
        type: 'counter',
        help: 'Files moved, by direction.',
        samples: directions(this.#files),
      },
      {
        name: 'ksync_agent_hashed_files_total',
        type: 'counter',
        help: 'Files scans hashed (new, changed, or not in a kept stat cache).',
        samples: [{ value: this.#hashed }],
      },
      {
        name: 'ksync_agent_request_errors_total',
        type: 'counter',
        help: 'Failed requests and refused opens, by request type.',
        samples: [...this.#errors].map(([type, value]) => ({ labels: { type }, value })),
      },
      {
        name: 'ksync_agent_apply_problems_total',
        type: 'counter',
        help: 'Changes an apply could not make.',
        samples: [{ value: this.#applyProblems }],
      },
      this.#apply.family('ksync_agent_apply_duration_seconds', 'Time to apply one batch.'),
      residentMemoryFamily(),
    ]);
  }
}
