import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import type { KubeTarget } from './config.ts';
import { fakeKubeTarget } from './test-target.ts';
import { watchPods, type PodWatch } from './pod-watch.ts';

const pod = (name: string): V1Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'ns', uid: `uid-${name}`, resourceVersion: '1' },
});

/**
 * A fake API server for pod lists and watches. `listAnswers` are used in turn for list requests
 * (the last one repeats); watch requests stay open and send nothing, like a quiet watch.
 */
describe('watchPods against a fake API server', () => {
  let server: Server;
  let target: KubeTarget;
  let listAnswers: { status: number; items: V1Pod[] }[] = [];
  let lists = 0;
  let selectors: string[] = [];
  const watches = new Set<ServerResponse>();
  let watch: PodWatch | undefined;

  before(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.searchParams.get('watch') === 'true') {
        watches.add(res);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.flushHeaders();
        res.on('close', () => watches.delete(res));
        return;
      }
      selectors.push(url.searchParams.get('labelSelector') ?? '');
      const answer = listAnswers[Math.min(lists, listAnswers.length - 1)] ?? {
        status: 200,
        items: [],
      };
      lists++;
      res.writeHead(answer.status, { 'Content-Type': 'application/json' });
      res.end(
        answer.status === 200
          ? JSON.stringify({
              kind: 'PodList',
              apiVersion: 'v1',
              metadata: { resourceVersion: '5' },
              items: answer.items,
            })
          : JSON.stringify({
              kind: 'Status',
              status: 'Failure',
              message: 'etcd is sad',
              code: answer.status,
            }),
      );
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    target = fakeKubeTarget(`http://127.0.0.1:${port}`, 'ns', 't');
  });
  beforeEach(async () => {
    await watch?.stop();
    lists = 0;
    selectors = [];
  });
  after(async () => {
    await watch?.stop();
    for (const res of watches) res.destroy();
    server.close();
  });

  it('reports a failing list, restarts with backoff, and reports the pods once it works', async () => {
    listAnswers = [
      { status: 500, items: [] },
      { status: 200, items: [pod('web-1')] },
    ];
    const errors: (string | undefined)[] = [];
    const seen = new Promise<string[]>((resolve) => {
      watch = watchPods({
        target,
        namespace: 'ns',
        selector: 'app=demo',
        minBackoffMs: 20,
        onPods: (pods) => {
          if (pods.length > 0) resolve(pods.map((p) => p.metadata?.name ?? ''));
        },
        onError: (error) => errors.push(error?.message),
      });
    });
    assert.deepEqual(await seen, ['web-1']);
    assert.match(errors[0] ?? '', /etcd is sad/);
    assert.equal(errors.at(-1), undefined, 'the error is cleared once the watch works again');
    assert.deepEqual([...new Set(selectors)], ['app=demo']);
  });

  it('relists when the watch goes silent', async () => {
    listAnswers = [{ status: 200, items: [pod('web-1')] }];
    watch = watchPods({
      target,
      namespace: 'ns',
      selector: 'app=demo',
      silenceMs: 200,
      onPods: () => undefined,
      onError: (error) => assert.fail(error?.message),
    });
    const deadline = Date.now() + 5000;
    while (lists < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(lists >= 2, `listed ${lists} time(s)`);
  });

  it('a relist that fails is an error, never an empty list of pods', async () => {
    listAnswers = [
      { status: 200, items: [pod('web-1')] },
      { status: 500, items: [] },
      { status: 500, items: [] },
      { status: 200, items: [pod('web-1')] },
    ];
    const events: string[] = [];
    watch = watchPods({
      target,
      namespace: 'ns',
      selector: 'app=demo',
      minBackoffMs: 20,
      // A fresh informer relists; here the watchdog makes one after 300 ms of quiet.
      silenceMs: 300,
      onPods: (pods) => events.push(`pods ${pods.map((p) => p.metadata?.name).join(',')}`),
      onError: (error) => events.push(error === undefined ? 'ok' : 'error'),
    });
    const until = async (check: () => boolean): Promise<void> => {
      const deadline = Date.now() + 5000;
      while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(check(), events.join(' | '));
    };
    // The API server's list fails twice (as while it is unreachable), then works again.
    await until(() => lists >= 4 && events.at(-1) === 'pods web-1');
    const after = events.slice(events.indexOf('pods web-1') + 1);
    assert.ok(after.includes('error'), events.join(' | '));
    assert.ok(!after.includes('pods '), `an empty list was reported: ${events.join(' | ')}`);
    const lastError = after.lastIndexOf('error');
    assert.ok(
      !after.slice(0, lastError).includes('ok'),
      `cleared while failing: ${events.join(' | ')}`,
    );
  });
});
