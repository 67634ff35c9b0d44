import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SpecStore } from './spec-store.ts';

describe('SpecStore', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  async function storeWith(lines: object[]): Promise<SpecStore> {
    const dir = await mkdtemp(join(tmpdir(), 'ksync-specs-'));
    dirs.push(dir);
    const file = join(dir, 'specs.db');
    await writeFile(file, lines.map((l) => JSON.stringify(l) + '\n').join(''));
    return SpecStore.open(file);
  }
  const common = {
    local: '/src',
    remote: '/app',
    mode: 'two-way',
    ignore: [],
    paused: false,
    createdAt: 1,
  };

  it('reads a spec stored before targets were a union as a direct target', async () => {
    const store = await storeWith([
      {
        _id: 'old',
        spec: { name: 'old', ...common, direct: { url: 'ws://h:1', tokenFile: '/t' } },
      },
    ]);
    const spec = await store.get('old');
    assert.deepEqual(spec.target, { kind: 'direct', url: 'ws://h:1', tokenFile: '/t' });
    assert.equal('direct' in spec, false);
  });

  it('reads a Kubernetes spec with its reload hook', async () => {
    const target = { kind: 'kubernetes', namespace: 'dev', selector: 'app=demo' };
    const store = await storeWith([
      { _id: 'k', spec: { name: 'k', ...common, target, reload: { kind: 'restart' } } },
    ]);
    const spec = await store.get('k');
    assert.deepEqual(spec.target, target);
    assert.deepEqual(spec.reload, { kind: 'restart' });
  });

  it('refuses a malformed spec', async () => {
    const store = await storeWith([
      { _id: 'bad', spec: { name: 'bad', ...common, target: { kind: 'ftp' } } },
    ]);
    await assert.rejects(store.get('bad'), /malformed spec/);
  });
});
