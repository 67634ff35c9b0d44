/**
 * Runs the README's Kubernetes quickstart lines verbatim as one shell script, as a newcomer pastes
 * them, with the repository's paths made absolute so it runs in a scratch directory, kubectl from
 * the local cluster on PATH and a private KSYNC_HOME. Then checks that ./src reached /app in the
 * demo pod, and a pod-side write reached ./src.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { it } from 'node:test';
import { REPO, readmeLines } from '../integration/helpers/readme.ts';
import { kubectl, readClusterInfo, runKubectl, waitFor } from './helpers/cluster.ts';

it(
  'the README Kubernetes quickstart syncs ./src with /app in the demo pod',
  { timeout: 300_000 },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ksync-kube-quickstart-'));
    const env = {
      ...process.env,
      KSYNC_HOME: join(dir, 'home'),
      PATH: `${dirname(readClusterInfo().kubectl)}:${process.env.PATH ?? ''}`,
    };
    const script = readmeLines('kube-quickstart')
      .map((line) =>
        line
          .replace(/^make /, `make -C ${REPO} `)
          .replaceAll('$PWD/.cluster', `${REPO}/.cluster`)
          .replaceAll(' deploy/', ` ${REPO}/deploy/`)
          .replaceAll('bin/', `${REPO}/bin/`),
      )
      .join('\n');
    const ksync = join(REPO, 'bin/ksync');
    try {
      const shell = spawn('bash', ['-euc', script], { cwd: dir, env, stdio: 'inherit' });
      assert.equal(await new Promise((resolve) => shell.once('exit', resolve)), 0);
      await kubectl(['rollout', 'status', 'deployment/demo', '--timeout=90s'], {
        timeoutMs: 100_000,
      });
      await waitFor('index.html in the demo pod', 90_000, async () => {
        const r = await runKubectl(['exec', 'deploy/demo', '--', 'cat', '/app/index.html']);
        return r.code === 0 && r.stdout === 'hello\n';
      });
      await kubectl(['exec', 'deploy/demo', '--', 'sh', '-c', 'echo from the pod > /app/pod.txt']);
      await waitFor('pod.txt in ./src', 60_000, async () =>
        readFile(join(dir, 'src/pod.txt'), 'utf8').then(
          (t) => t === 'from the pod\n',
          () => false,
        ),
      );
    } finally {
      execFileSync(ksync, ['stop'], { cwd: dir, env, stdio: 'ignore' });
      await runKubectl(['delete', '-f', join(REPO, 'deploy/examples/demo.yaml'), '--wait=false']);
      await rm(dir, { recursive: true, force: true });
    }
  },
);
