/**
 * Bad Kubernetes input through the real `bin/ksync`, with no cluster needed: a missing context,
 * a kubeconfig that is missing or not YAML, and a cluster that does not answer each give one
 * line on stderr naming the fix, exit 1 and no stack trace, for every Kubernetes command; and
 * `ksync resources create`'s own checks, all problems in one line.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runKsync } from './helpers/cli-process.ts';

/** A kubeconfig for one cluster at `server`. */
function kubeconfig(server: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'current-context: here',
    'clusters:',
    `- {name: here, cluster: {server: '${server}', insecure-skip-tls-verify: true}}`,
    'users:',
    '- {name: me, user: {token: abc}}',
    'contexts:',
    '- {name: here, context: {cluster: here, user: me}}',
    '',
  ].join('\n');
}

describe('Kubernetes commands: bad input is one line, exit 1', () => {
  let dir = '';
  let closedPort = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ksync-kube-bad-'));
    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await writeFile(join(dir, 'unreachable'), kubeconfig(`https://127.0.0.1:${closedPort}`));
    await writeFile(join(dir, 'broken'), 'clusters: [unclosed\n');
    await mkdir(join(dir, 'tree'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cases: [string, () => string[], RegExp][] = [
    [
      'a missing context',
      () => ['--kubeconfig', join(dir, 'unreachable'), '--context', 'nope'],
      /^error: context "nope" not found in .*unreachable; it has: here$/,
    ],
    [
      'a missing kubeconfig',
      () => ['--kubeconfig', join(dir, 'missing')],
      /^error: --kubeconfig .*missing: no such file$/,
    ],
    [
      'a kubeconfig that is not YAML',
      () => ['--kubeconfig', join(dir, 'broken')],
      /^error: cannot read kubeconfig .*broken: not valid YAML; fix the file/,
    ],
    [
      'an unreachable cluster',
      () => ['--kubeconfig', join(dir, 'unreachable')],
      /^error: cannot reach the cluster at https:\/\/127\.0\.0\.1:\d+ \(context "here"\): connection refused; check that it is running/,
    ],
  ];
  const commands: [string, () => string[]][] = [
    ['init', () => ['init']],
    ['uninstall', () => ['uninstall']],
    ['resources kinds', () => ['resources', 'kinds']],
    ['resources create', () => ['resources', 'create', join(dir, 'tree'), '-k', 'cm']],
  ];
  for (const [command, args] of commands) {
    for (const [name, flags, message] of cases) {
      it(`ksync ${command} with ${name}`, async () => {
        const r = await runKsync([...args(), ...flags()], {
          home: dir,
          cwd: dir,
          timeoutMs: 30_000,
        });
        assert.equal(r.code, 1, r.stderr);
        assert.equal(r.stdout, '');
        assert.match(r.stderr.trimEnd(), message);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.doesNotMatch(r.stderr, /\n\s+at /);
      });
    }
  }

  for (const [name, args, message] of [
    ['no kinds', [], /^error: say which kinds to mirror: --kinds deploy,svc,cm/],
    [
      'a bad namespace and a one-way mode',
      ['-k', 'cm', '-n', 'Bad_NS', '-m', 'one-way'],
      /^error: namespace "Bad_NS" is not a valid namespace name; unknown sync mode "one-way"; use one of: two-way, two-way-safe$/,
    ],
  ] as const) {
    it(`ksync resources create with ${name}`, async () => {
      const r = await runKsync(['resources', 'create', join(dir, 'tree'), ...args], {
        home: dir,
        cwd: dir,
        timeoutMs: 30_000,
      });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr.trimEnd(), message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    });
  }

  it('ksync doctor reports an unreachable cluster as a failed check with its fix, exit 1', async () => {
    const r = await runKsync(['doctor', '--kubeconfig', join(dir, 'unreachable'), '-o', 'json'], {
      home: dir,
      cwd: dir,
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      checks: { id: string; status: string; fix?: string }[];
    };
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.checks.map((c) => [c.id, c.status]),
      [['cluster', 'fail']],
    );
    assert.match(report.checks[0]?.fix ?? '', /kubectl --context here cluster-info/);
  });

  it('ksync doctor with a missing context is one line', async () => {
    const r = await runKsync(
      ['doctor', '--kubeconfig', join(dir, 'unreachable'), '--context', 'x'],
      {
        home: dir,
        cwd: dir,
        timeoutMs: 30_000,
      },
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: context "x" not found/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });
});
