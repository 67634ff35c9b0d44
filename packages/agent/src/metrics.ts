/**
 * The agent's Prometheus metrics, served as text at `/metrics` on its loopback listener. The
 * exposition format for a handful of counters, gauges and one histogram is a few lines, so it
 * is written here rather than pulling in prom-client (and its OpenTelemetry dependency) into
 * the single-file bundle.
 */

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
  readonly #applyBuckets = APPLY_BUCKETS.map(() => 0);
  #applyCount = 0;
  #applySum = 0;

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
    this.#applyCount++;
    this.#applySum += seconds;
    APPLY_BUCKETS.forEach((bound, i) => {
      if (seconds <= bound) this.#applyBuckets[i] = (this.#applyBuckets[i] ?? 0) + 1;
    });
  }

  /** The Prometheus text exposition (version 0.0.4) of every metric. */
  render(): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: string[]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples);
    };
    metric('ksync_agent_open_targets', 'gauge', 'Connections with an opened target.', [
      `ksync_agent_open_targets ${this.openTargets}`,
    ]);
    metric('ksync_agent_bytes_total', 'counter', 'File content bytes moved, by direction.', [
      `ksync_agent_bytes_total{direction="in"} ${this.#bytes.in}`,
      `ksync_agent_bytes_total{direction="out"} ${this.#bytes.out}`,
    ]);
    metric('ksync_agent_files_total', 'counter', 'Files moved, by direction.', [
      `ksync_agent_files_total{direction="in"} ${this.#files.in}`,
      `ksync_agent_files_total{direction="out"} ${this.#files.out}`,
    ]);
    metric(
      'ksync_agent_hashed_files_total',
      'counter',
      'Files scans hashed (new, changed, or not in a kept stat cache).',
      [`ksync_agent_hashed_files_total ${this.#hashed}`],
    );
    metric(
      'ksync_agent_request_errors_total',
      'counter',
      'Failed requests and refused opens, by request type.',
      [...this.#errors].map(([type, n]) => `ksync_agent_request_errors_total{type="${type}"} ${n}`),
    );
    metric('ksync_agent_apply_problems_total', 'counter', 'Changes an apply could not make.', [
      `ksync_agent_apply_problems_total ${this.#applyProblems}`,
    ]);
    metric('ksync_agent_apply_duration_seconds', 'histogram', 'Time to apply one batch.', [
      ...APPLY_BUCKETS.map(
        (bound, i) =>
          `ksync_agent_apply_duration_seconds_bucket{le="${bound}"} ${this.#applyBuckets[i] ?? 0}`,
      ),
      `ksync_agent_apply_duration_seconds_bucket{le="+Inf"} ${this.#applyCount}`,
      `ksync_agent_apply_duration_seconds_sum ${this.#applySum}`,
      `ksync_agent_apply_duration_seconds_count ${this.#applyCount}`,
    ]);
    metric('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', [
      `process_resident_memory_bytes ${process.memoryUsage.rss()}`,
    ]);
    return `${lines.join('\n')}\n`;
  }
}
