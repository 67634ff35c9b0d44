// `ksync resources` at scale and its latencies, on the real local cluster: the time from a
// `kubectl apply` to the file and from a save to the cluster (p50/p99), how long 1,000 new
// ConfigMaps take to settle as files, and the watch daemon's memory while it mirrors 5,000
// objects. The figures are printed as test diagnostics (docs/resources.md quotes them); the
// settle time must stay under SETTLE_BOUND_MS.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import {
  REPO_ROOT,
  createNamespace,
  deleteNamespace,
  kubectl,
  loadKubeConfig,
  waitFor,
} from './helpers/cluster.ts';
import { daemonPid, runKsync } from '../integration/helpers/cli-process.ts';

/** 1,000 new ConfigMaps must all be files within this long. */
const SETTLE_BOUND_MS = 60_000;
const SAMPLES = 30;

/** The p-th percentile (0..100) of `values`, nearest rank. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** `kubectl apply` of `count` ConfigMaps named `prefix-N`, as one List. */
async function applyConfigMaps(
  ns: string,
  prefix: string,
  from: number,
  count: number,
): Promise<void> {
  const items = Array.from({ length: count }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `${prefix}-${from + i}`, namespace: ns },
    data: { n: String(from + i) },
  }));
  await kubectl(['apply', '--server-side', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }),
    timeoutMs: 300_000,
  });
}

describe('ksync resources at scale', { timeout: 900_000 }, () => {
  let ns = '';
  let tree = '';
  let home = '';
  const core = loadKubeConfig().makeApiClient(CoreV1Api);
  const ksync = (args: string[]) => runKsync(args, { home, cwd: REPO_ROOT, timeoutMs: 120_000 });
  const count = async (): Promise<number> =>
    (await readdir(join(tree, ns, 'configmaps')).catch(() => [])).filter((f) => f.endsWith('.yaml'))
      .length;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'ksync-e2e-home-'));
    ns = await createNamespace('ksync-res-scale');
    tree = await mkdtemp(join(tmpdir(), 'ksync-e2e-res-scale-'));
    await kubectl(['-n', ns, 'create', 'configmap', 'probe', '--from-literal=v=0']);
    const created = await ksync([
      'resources',
      'create',
      tree,
      '--name',
      'scale',
      '-n',
      ns,
      '-k',
      'cm',
    ]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal((await ksync(['watch', '--daemon'])).code, 0);
    await waitFor('the probe file', 60_000, async () => (await count()) >= 1);
  });
  after(async () => {
    await ksync(['stop']);
    if (ns !== '') await deleteNamespace(ns);
  });

  it('shows a kubectl apply in the file, and a save in the cluster', async (t) => {
    const file = join(tree, ns, 'configmaps', 'probe.yaml');
    const toFile: number[] = [];
    for (let i = 1; i <= SAMPLES; i++) {
      // Timed from just before the write (its own round trip included).
      const current = await core.readNamespacedConfigMap({ name: 'probe', namespace: ns });
      const start = performance.now();
      await core.replaceNamespacedConfigMap({
        name: 'probe',
        namespace: ns,
        body: { ...current, data: { v: `c${i}` } },
      });
      await waitFor(`c${i} in the file`, 30_000, async () =>
        (await readFile(file, 'utf8').catch(() => '')).includes(`v: c${i}\n`),
      );
      toFile.push(performance.now() - start);
    }
    const toCluster: number[] = [];
    for (let i = 1; i <= SAMPLES; i++) {
      const text = await readFile(file, 'utf8');
      await writeFile(file, text.replace(/v: \S+\n/, `v: f${i}\n`));
      const start = performance.now();
      await waitFor(
        `f${i} in the cluster`,
        30_000,
        async () =>
          (await core.readNamespacedConfigMap({ name: 'probe', namespace: ns })).data?.v ===
          `f${i}`,
      );
      toCluster.push(performance.now() - start);
    }
    const fmt = (v: readonly number[]) =>
      `p50 ${percentile(v, 50).toFixed(0)} ms, p99 ${percentile(v, 99).toFixed(0)} ms`;
    t.diagnostic(`cluster change -> file (${SAMPLES} samples): ${fmt(toFile)}`);
    t.diagnostic(`file save -> cluster (${SAMPLES} samples): ${fmt(toCluster)}`);
    assert.ok(
      percentile(toFile, 50) < 1000,
      'a cluster change shows in the file within a second (p50)',
    );
  });

  it('settles 1,000 new ConfigMaps as files, and mirrors 5,000 objects', async (t) => {
    const before = await count();
    const start = performance.now();
    await applyConfigMaps(ns, 'bulk', 0, 1000);
    const applied = performance.now() - start;
    await waitFor('1,000 files', SETTLE_BOUND_MS, async () => (await count()) >= before + 1000);
    const settled = performance.now() - start;
    t.diagnostic(
      `1,000 ConfigMaps: kubectl apply took ${(applied / 1000).toFixed(1)} s; all files after ${(settled / 1000).toFixed(1)} s`,
    );

    for (let from = 1000; from < 5000; from += 1000) await applyConfigMaps(ns, 'bulk', from, 1000);
    await waitFor('5,000 files', 300_000, async () => (await count()) >= before + 5000);
    const pid = await daemonPid(home);
    assert.ok(pid !== undefined, 'the watch daemon runs');
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
    const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
    t.diagnostic(
      `daemon mirroring ${before + 5000} ConfigMaps: RSS ${rss.toFixed(0)} MiB (peak ${hwm.toFixed(0)} MiB)`,
    );
    const view = JSON.parse((await ksync(['get', 'scale', '-o', 'json'])).stdout) as {
      problems: unknown[];
      conflicts: number;
    };
    assert.deepEqual(view.problems, []);
    assert.equal(view.conflicts, 0);
  });
});
