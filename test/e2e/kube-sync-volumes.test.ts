// Kubernetes syncs into a non-root container with an emptyDir below the remote path, each reload
// hook, a blocked conflict's saved container version through a container restart, a container edit
// made while the watch was stopped through a container restart, and the one-line errors of `create` (wrong context, unknown namespace) and of the watch
// (a user without pods/portforward), through bin/ksync on the local cluster.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { NAMESPACE } from '@ksync/kube';
import {
  createNamespace,
  deleteNamespace,
  kubectl,
  readClusterInfo,
  readRestartCount,
  runKubectl,
  terminateContainer,
  waitFor,
} from './helpers/cluster.ts';
import {
  FIND_AGENTS,
  READ_TOKEN,
  grant,
  ksync,
  ksyncHome,
  ksyncOk,
  serviceAccountKubeconfig,
} from './helpers/ksync.ts';

// The app user's home (uid 1000 owns it in the image): files ksync creates take their parent's
// owner, so the app can edit them. The emptyDir is mounted below it.
const SITE = '/home/app';

/** uid 1000, an emptyDir at SITE/cache, and a main process that logs HUPs and exits on TERM. */
function volDeployment(): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'vol' },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'vol' } },
      template: {
        metadata: { labels: { app: 'vol' } },
        spec: {
          terminationGracePeriodSeconds: 2,
          securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 },
          containers: [
            {
              name: 'web',
              image: readClusterInfo().images.testApp,
              imagePullPolicy: 'Never',
              command: [
                'sh',
                '-c',
                `trap "date >> /tmp/hups" HUP; trap "exit 0" TERM; while true; do sleep 1 & wait; done`,
              ],
              volumeMounts: [{ name: 'cache', mountPath: `${SITE}/cache` }],
            },
          ],
          volumes: [{ name: 'cache', emptyDir: {} }],
        },
      },
    },
  });
}

describe(
  'Kubernetes syncs: volumes, a non-root container, reload hooks, errors',
  { timeout: 600_000 },
  () => {
    let ns = '';
    let local = '';
    let pod = '';
    const exec = (...cmd: string[]) => kubectl(['-n', ns, 'exec', pod, '--', ...cmd]);
    const file = async (path: string) => {
      const r = await runKubectl(['-n', ns, 'exec', pod, '--', 'cat', path]);
      return r.code === 0 ? r.stdout : undefined;
    };
    const waitFile = (path: string, content: string) =>
      waitFor(`${path} in ${pod}`, 60_000, async () => (await file(path)) === content);
    const runningPod = async (): Promise<string> => {
      const list = JSON.parse(
        await kubectl(['-n', ns, 'get', 'pods', '-l', 'app=vol', '-o', 'json']),
      ) as { items: V1Pod[] };
      const running = list.items.find(
        (p) =>
          p.metadata?.deletionTimestamp === undefined &&
          p.status?.containerStatuses?.[0]?.state?.running !== undefined,
      );
      return running?.metadata?.name ?? '';
    };

    const restarts = () => readRestartCount(ns, pod);
    /** Restarts the container in place (its main process exits on TERM) and waits for it. */
    const restartInPlace = async () => {
      const before = await restarts();
      await terminateContainer(ns, pod);
      await waitFor(
        'the container restarted in place',
        60_000,
        async () => (await restarts()) > before && (await runningPod()) === pod,
      );
    };
    type Listed = { path: string; state: string; savedIn?: string };
    /** The saved copies of `path` in the conflicts of sync `name`, by state. */
    const savedCopies = async (name: string, path: string) => {
      const listed = JSON.parse(
        (await ksyncOk(['conflicts', name, '-o', 'json'])).stdout,
      ) as Listed[];
      return Promise.all(
        listed
          .filter((c) => c.path === path)
          .map(async (c) => ({
            state: c.state,
            saved:
              c.savedIn === undefined
                ? undefined
                : await readFile(join(c.savedIn, path), 'utf8').catch(() => undefined),
          })),
      );
    };

    before(async () => {
      await ksyncOk(['init']);
      ns = await createNamespace('ksync-vol');
      await kubectl(['-n', ns, 'apply', '-f', '-'], { input: volDeployment() });
      await kubectl(['-n', ns, 'rollout', 'status', 'deployment/vol', '--timeout=90s'], {
        timeoutMs: 100_000,
      });
      pod = await runningPod();
      local = await mkdtemp(join(tmpdir(), 'ksync-e2e-vol-'));
      await writeFile(join(local, 'page.html'), 'v1\n');
      await ksyncOk(['watch', '--daemon']);
    });
    after(async () => {
      await ksync(['stop']);
      if (ns !== '') await deleteNamespace(ns);
    });

    it('an emptyDir below the remote path receives files; the non-root app edits a synced file', async () => {
      const { mkdir } = await import('node:fs/promises');
      await mkdir(join(local, 'cache'));
      await writeFile(join(local, 'cache/warm.txt'), 'cached\n');
      await ksyncOk(['create', '--name', 'vol', '-l', 'app=vol', '-n', ns, local, SITE]);
      await waitFile(`${SITE}/cache/warm.txt`, 'cached\n');
      // The file is in the volume, not in the container's own layer.
      const mounts = await exec('grep', ` ${SITE}/cache `, '/proc/mounts');
      assert.ok(mounts.trim() !== '');
      await exec('sh', '-c', `echo edited by uid $(id -u) >> ${SITE}/page.html`);
      await waitFor('the app edit locally', 60_000, async () => {
        return (await readFile(join(local, 'page.html'), 'utf8')) === 'v1\nedited by uid 1000\n';
      });
    });

    async function withHook(
      hook: string,
      edit: string,
      check: () => Promise<boolean>,
    ): Promise<string> {
      await ksyncOk(['delete', 'vol']);
      await ksyncOk([
        'create',
        '--name',
        'vol',
        '-l',
        'app=vol',
        '-n',
        ns,
        '--reload',
        hook,
        local,
        SITE,
      ]);
      await ksyncOk(['flush', 'vol', '--timeout', '60s']);
      await writeFile(join(local, 'page.html'), edit);
      await waitFor(`the ${hook} hook to run`, 60_000, check);
      let outcome = '';
      await waitFor('get -o wide to show the hook', 30_000, async () => {
        const r = await ksyncOk(['get', 'vol', '-o', 'wide']);
        outcome = r.stdout;
        return r.stdout.includes(hook.startsWith('exec:') ? 'exec:' : hook);
      });
      return outcome;
    }

    it('--reload exec runs the command in the container after changes land', async () => {
      const wide = await withHook(
        'exec:echo reloaded >> /tmp/reloads',
        'v2\n',
        async () => (await file('/tmp/reloads')) !== undefined,
      );
      assert.match(wide, /exec:echo reloaded >> \/tmp\/reloads ok/);
      assert.equal(await file(`${SITE}/page.html`), 'v2\n');
    });

    it('--reload signal:HUP signals the main process', async () => {
      const wide = await withHook(
        'signal:HUP',
        'v3\n',
        async () => (await file('/tmp/hups')) !== undefined,
      );
      assert.match(wide, /signal:HUP ok/);
    });

    it('--reload restart restarts the container, which is then re-synced', async () => {
      const before = await restarts();
      await withHook('restart', 'v4\n', async () => (await restarts()) > before);
      await waitFor(
        'the restarted container to run',
        60_000,
        async () => (await runningPod()) === pod,
      );
      await waitFile(`${SITE}/page.html`, 'v4\n');
      await ksyncOk(['delete', 'vol']);
    });

    it('a container restart loses no unsynced container version that a blocked conflict kept', async () => {
      await ksyncOk([
        'create',
        '--name',
        'clash',
        '-l',
        'app=vol',
        '-n',
        ns,
        '-m',
        'two-way-safe',
        local,
        SITE,
      ]);
      try {
        // Created by the app (uid 1000), so that it may edit it later.
        await exec('sh', '-c', `echo base > ${SITE}/cache/clash.txt`);
        await waitFor(
          'the app file locally',
          60_000,
          async () =>
            (await readFile(join(local, 'cache/clash.txt'), 'utf8').catch(() => '')) === 'base\n',
        );
        await ksyncOk(['pause', 'clash']);
        await writeFile(join(local, 'cache/clash.txt'), 'local side\n');
        await exec('sh', '-c', `echo pod side > ${SITE}/cache/clash.txt`);
        await ksyncOk(['resume', 'clash']);
        await ksyncOk(['flush', 'clash', '--timeout', '60s']);
        const saved = async () =>
          (await savedCopies('clash', 'cache/clash.txt'))
            .filter((c) => c.state === 'blocked')
            .map((c) => c.saved);
        assert.deepEqual(await saved(), ['pod side\n']);
        // The container restarts in place (its main process exits on TERM); the emptyDir keeps the
        // pod's version, which was never synced. The watch sees a new container and rebases.
        await restartInPlace();
        const log = join(await ksyncHome(), 'watch.log');
        await waitFor('the watch to take the new container', 90_000, async () =>
          (await readFile(log, 'utf8')).includes(`clash@${pod}/web: new container`),
        );
        await ksyncOk(['flush', 'clash', '--timeout', '60s']);
        await ksyncOk(['flush', 'clash', '--timeout', '60s']);
        assert.equal(await file(`${SITE}/cache/clash.txt`), 'pod side\n');
        assert.deepEqual(await saved(), ['pod side\n'], 'the saved copy outlives the restart');
        await ksyncOk(['resolve', 'clash', 'cache/clash.txt', '--keep', 'local']);
      } finally {
        // A failure must not leave the sync to the cases below.
        await ksync(['delete', 'clash', '--force']);
      }
    });

    it('a container edit made while the watch was stopped survives a container restart', async () => {
      await ksyncOk(['create', '--name', 'edits', '-l', 'app=vol', '-n', ns, local, SITE]);
      const log = join(await ksyncHome(), 'watch.log');
      let watching = true;
      try {
        // Created by the app (uid 1000), so that it may edit it later; and a file only the sync
        // placed in the container's own filesystem, which the restart takes away.
        await exec('sh', '-c', `echo synced > ${SITE}/cache/edit.txt`);
        await writeFile(join(local, 'reverted.txt'), 'local\n');
        await waitFile(`${SITE}/reverted.txt`, 'local\n');
        await waitFor(
          'the app file locally',
          60_000,
          async () =>
            (await readFile(join(local, 'cache/edit.txt'), 'utf8').catch(() => '')) === 'synced\n',
        );
        await ksyncOk(['flush', 'edits', '--timeout', '60s']);
        await ksyncOk(['stop']);
        watching = false;
        // Unsynced: the watch is down. The emptyDir keeps it through the restart.
        await exec('sh', '-c', `echo pod edit > ${SITE}/cache/edit.txt`);
        await restartInPlace();
        assert.equal(await file(`${SITE}/reverted.txt`), undefined, 'the image has no such file');
        assert.equal(await file(`${SITE}/cache/edit.txt`), 'pod edit\n');
        await ksyncOk(['watch', '--daemon']);
        watching = true;
        await waitFor('the watch to take the new container', 90_000, async () =>
          (await readFile(log, 'utf8')).includes(`edits@${pod}/web: new container`),
        );
        await ksyncOk(['flush', 'edits', '--timeout', '60s']);
        await ksyncOk(['flush', 'edits', '--timeout', '60s']);
        // The container's edit reached local, or is a listed conflict that saved it.
        const inLocal = await readFile(join(local, 'cache/edit.txt'), 'utf8');
        const copies = await savedCopies('edits', 'cache/edit.txt');
        assert.ok(
          inLocal === 'pod edit\n' || copies.some((c) => c.saved === 'pod edit\n'),
          `local has ${JSON.stringify(inLocal)}, saved: ${JSON.stringify(copies)}`,
        );
        // The file the restart took away gets local's content back, with no conflict.
        assert.equal(await file(`${SITE}/reverted.txt`), 'local\n');
        assert.deepEqual(await savedCopies('edits', 'reverted.txt'), []);
      } finally {
        // The cases below need the watch.
        if (!watching) await ksync(['watch', '--daemon']);
        await ksync(['delete', 'edits', '--force']);
      }
    });

    it('create: a wrong context and an unknown namespace are one line each', async () => {
      const context = await ksync(['create', '--context', 'nope', '-l', 'app=vol', local, SITE]);
      assert.equal(context.code, 1);
      assert.match(context.stderr.trim(), /^error: context "nope" not found in .*; it has: /);
      assert.equal(context.stderr.trim().split('\n').length, 1);
      const namespace = await ksync(['create', '-n', 'no-such-ns', '-l', 'app=vol', local, SITE]);
      assert.equal(namespace.code, 1);
      assert.equal(
        namespace.stderr.trim(),
        'error: namespace "no-such-ns" not found in context "' +
          (await kubectl(['config', 'current-context'])).trim() +
          '"; list them with: kubectl get namespaces',
      );
    });

    it('a user without pods/portforward gets the missing verb in get', async () => {
      await kubectl(['-n', ns, 'create', 'serviceaccount', 'noforward']);
      const account = `${ns}:noforward`;
      await grant(ns, 'noforward-view', account, 'view');
      await grant(NAMESPACE, `${ns}-agents`, account, FIND_AGENTS);
      await grant(NAMESPACE, `${ns}-token`, account, READ_TOKEN);
      try {
        const config = await serviceAccountKubeconfig(ns, 'noforward');
        await ksyncOk([
          'create',
          '--name',
          'nofwd',
          '--kubeconfig',
          config,
          '-l',
          'app=vol',
          local,
          SITE,
        ]);
        let shown = '';
        await waitFor('get to show the denial', 60_000, async () => {
          shown = (await ksyncOk(['get', 'nofwd', '-o', 'wide'])).stdout;
          return shown.includes('cannot create pods/portforward');
        });
        assert.match(
          shown,
          new RegExp(
            `forbidden: user "system:serviceaccount:${ns}:noforward" cannot create pods/portforward in namespace "${NAMESPACE}"`,
          ),
        );
        await ksyncOk(['delete', 'nofwd']);
      } finally {
        await runKubectl([
          '-n',
          NAMESPACE,
          'delete',
          'role,rolebinding',
          `${ns}-agents`,
          `${ns}-token`,
          '--ignore-not-found',
        ]);
      }
    });

    it('a remote path whose parent the container lacks is one line in get', async () => {
      const elsewhere = await mkdtemp(join(tmpdir(), 'ksync-e2e-noparent-'));
      await ksyncOk([
        'create',
        '--name',
        'noparent',
        '-l',
        'app=vol',
        '-n',
        ns,
        elsewhere,
        '/no/such/dir',
      ]);
      let shown = '';
      await waitFor('get to show the missing parent', 60_000, async () => {
        shown = (await ksyncOk(['get', 'noparent', '-o', 'json'])).stdout;
        return shown.includes('cannot sync /no/such/dir');
      });
      const view = JSON.parse(shown) as { error?: string };
      assert.match(view.error ?? '', /^the agent cannot sync \/no\/such\/dir: [^\n]+$/);
      await ksyncOk(['delete', 'noparent']);
    });
  },
);
