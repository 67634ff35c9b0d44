import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UserError } from '@ksync/core';
import { readKubeTarget } from './config.ts';

/** A kubeconfig with one cluster, user and context per name; the first is current. */
function kubeconfig(opts: {
  names: string[];
  server?: string;
  current?: string;
  namespace?: string;
}): string {
  const server = opts.server ?? 'https://127.0.0.1:6443';
  const lines = ['apiVersion: v1', 'kind: Config', `current-context: "${opts.current ?? ''}"`];
  lines.push('clusters:');
  for (const n of opts.names) lines.push(`- name: ${n}`, '  cluster:', `    server: ${server}`);
  lines.push('users:');
  for (const n of opts.names) lines.push(`- name: ${n}`, '  user:', `    token: t-${n}`);
  lines.push('contexts:');
  for (const n of opts.names) {
    lines.push(`- name: ${n}`, '  context:', `    cluster: ${n}`, `    user: ${n}`);
    if (opts.namespace !== undefined) lines.push(`    namespace: ${opts.namespace}`);
  }
  return `${lines.join('\n')}\n`;
}

describe('readKubeTarget (kubectl loading rules)', () => {
  let dir = '';
  const file = (name: string) => join(dir, name);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ksync-kubeconfig-'));
    await writeFile(
      file('a'),
      kubeconfig({ names: ['one', 'shared'], current: 'one', server: 'https://a:1' }),
    );
    await writeFile(
      file('b'),
      kubeconfig({
        names: ['two', 'shared'],
        current: 'two',
        server: 'https://b:2',
        namespace: 'dev',
      }),
    );
    await writeFile(file('bad'), 'clusters: [unclosed\n');
    await writeFile(file('empty'), '\n');
    await writeFile(file('nocurrent'), kubeconfig({ names: ['x'] }));
    await mkdir(join(dir, 'home', '.kube'), { recursive: true });
    await writeFile(
      join(dir, 'home', '.kube', 'config'),
      kubeconfig({ names: ['home'], current: 'home' }),
    );
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('merges KUBECONFIG files with the first definition and current-context winning', () => {
    const env = { KUBECONFIG: `${file('missing')}:${file('a')}:${file('b')}` };
    const t = readKubeTarget({ env });
    assert.equal(t.context, 'one');
    assert.equal(t.server, 'https://a:1');
    assert.deepEqual(t.files, [file('a'), file('b')], 'a missing file is skipped');
    assert.equal(t.namespace, 'default');
    const shared = readKubeTarget({ env, context: 'shared' });
    assert.equal(shared.server, 'https://a:1', 'the first file defines "shared"');
    const two = readKubeTarget({ env, context: 'two' });
    assert.equal(two.server, 'https://b:2');
    assert.equal(two.namespace, 'dev', "the context's namespace");
    assert.equal(two.kc.getCurrentContext(), 'two');
    assert.equal(readKubeTarget({ env, context: 'two', namespace: 'x' }).namespace, 'x');
  });

  it('--kubeconfig overrides KUBECONFIG, and HOME/.kube/config is the default', () => {
    const env = { KUBECONFIG: file('a'), HOME: join(dir, 'home') };
    assert.equal(readKubeTarget({ env, kubeconfig: file('b') }).context, 'two');
    assert.equal(readKubeTarget({ env: { HOME: join(dir, 'home') } }).context, 'home');
  });

  const failures: [string, () => Parameters<typeof readKubeTarget>[0], RegExp][] = [
    [
      'a missing --kubeconfig',
      () => ({ env: {}, kubeconfig: '/nonexistent/kc' }),
      /^--kubeconfig \/nonexistent\/kc: no such file$/,
    ],
    [
      'KUBECONFIG with no existing file',
      () => ({ env: { KUBECONFIG: '/nope/a:/nope/b' } }),
      /none of the files in KUBECONFIG exist/,
    ],
    [
      'no ~/.kube/config',
      () => ({ env: { HOME: '/nonexistent-home' } }),
      /\/nonexistent-home\/\.kube\/config does not exist; set KUBECONFIG/,
    ],
    [
      'a missing context',
      () => ({ env: {}, kubeconfig: file('a'), context: 'nope' }),
      /context "nope" not found in .*; it has: one, shared$/,
    ],
    [
      'no current context',
      () => ({ env: {}, kubeconfig: file('nocurrent') }),
      /no current context in .*; pass --context NAME/,
    ],
    [
      'an empty file (kubectl reads it as an empty config)',
      () => ({ env: {}, kubeconfig: file('empty') }),
      /no current context in .*empty; pass --context NAME/,
    ],
    [
      'invalid YAML',
      () => ({ env: {}, kubeconfig: file('bad') }),
      /cannot read kubeconfig .*bad: not valid YAML; fix the file/,
    ],
  ];
  for (const [name, flags, message] of failures) {
    it(`fails in one line for ${name}`, () => {
      assert.throws(
        () => readKubeTarget(flags()),
        (error: unknown) =>
          error instanceof UserError &&
          message.test(error.message) &&
          !error.message.includes('\n'),
      );
    });
  }
});
