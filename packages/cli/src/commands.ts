/**
 * The command table: every command's name, arguments, options and examples. Implementations are
 * loaded only when their command runs, so `ksync get` never loads the WebSocket client.
 */
import { DEFAULT_MODE, SYNC_MODES } from '@ksync/core';
import type { CommandDef, OptionDef } from './command.ts';
import { KUBE_OPTIONS } from './kube-flags.ts';

const OUTPUT = (formats: readonly string[]): OptionDef => ({
  flags: '-o, --output <format>',
  description: `output format: ${formats.join(', ')}`,
  defaultValue: 'table',
  completions: formats,
});

/** `--name`, of the commands that create a sync. */
const NAME_OPTION: OptionDef = {
  flags: '--name <name>',
  description: 'sync name (default: from the local directory)',
};

/** `--ignore` and `--paused`, of the commands that create a sync. */
const IGNORE_AND_PAUSED: readonly OptionDef[] = [
  {
    flags: '-i, --ignore <pattern>',
    description: 'ignore paths matching a gitignore pattern (repeatable)',
    repeatable: true,
  },
  { flags: '--paused', description: 'create it paused', defaultValue: false },
];

/** Every command, in the order `--help` lists them. */
export const COMMANDS: readonly CommandDef[] = [
  {
    name: 'create',
    summary: 'add a sync between a local directory and a directory in pods (or an agent)',
    args: '<local> <remote>',
    options: [
      NAME_OPTION,
      {
        flags: '-l, --selector <selector>',
        description: 'sync with every running pod matching this label selector',
      },
      { flags: '--pod <name>', description: 'sync with this one pod' },
      {
        flags: '-c, --container <name>',
        description: "the container (default: the pod's default-container, else its first)",
      },
      {
        flags: '-n, --namespace <namespace>',
        description: "the pods' namespace (default: the context's)",
      },
      ...KUBE_OPTIONS,
      {
        flags: '--reload <hook>',
        description: "after changes land in a container: exec:'CMD', signal:NAME or restart",
      },
      { flags: '--direct <url>', description: 'reach the agent directly at ws://HOST:PORT' },
      { flags: '--token-file <file>', description: "file holding the agent's token" },
      {
        flags: '-m, --mode <mode>',
        description: `sync mode: ${Object.keys(SYNC_MODES).join(', ')}`,
        defaultValue: DEFAULT_MODE,
        completions: Object.keys(SYNC_MODES),
      },
      ...IGNORE_AND_PAUSED,
      {
        flags: '--force',
        description:
          "allow / or your home directory as the local root, or roots overlapping another sync's",
        defaultValue: false,
      },
      {
        flags: '--no-check',
        description: 'do not check the agent (direct) or the namespace and permissions',
      },
    ],
    examples: [
      'ksync create --selector app=demo ./src /app',
      "ksync create -l app=api -c server -n dev --reload exec:'kill -HUP 1' ./api /srv",
      'ksync create --direct ws://127.0.0.1:7475 --token-file ./agent.token ./web /app',
      'ksync create --name api -m one-way -i node_modules -i "*.log" --direct ws://10.0.0.5:7475 --token-file t ./api /srv/api',
    ],
    load: () => import('./commands/create.ts'),
  },
  {
    name: 'resources create',
    summary: "keep a YAML tree of a cluster's objects in sync: NAMESPACE/KIND/NAME.yaml",
    args: '<local>',
    options: [
      NAME_OPTION,
      {
        flags: '-k, --kinds <kinds>',
        description:
          'kinds to mirror, comma-separated, as kubectl names them: short name, plural, kind, plural.group or group/version/Kind (CRDs too)',
      },
      {
        flags: '-n, --namespace <namespaces>',
        description: "namespaces, comma-separated (default: the context's)",
      },
      ...KUBE_OPTIONS,
      {
        flags: '-m, --mode <mode>',
        description: 'two-way or two-way-safe (a conflict waits for ksync resolve)',
        defaultValue: 'two-way',
        completions: ['two-way', 'two-way-safe'],
      },
      {
        flags: '--read-only',
        description: 'mirror the cluster only: local edits are reported, never applied',
        defaultValue: false,
      },
      {
        flags: '--allow-delete',
        description: 'deleting a file deletes its object (otherwise it is reported)',
        defaultValue: false,
      },
      {
        flags: '--secrets',
        description: 'allow Secrets among the kinds (files are written with mode 0600)',
        defaultValue: false,
      },
      ...IGNORE_AND_PAUSED,
      {
        flags: '--force',
        description:
          "allow your home directory as the local root, or roots overlapping another sync's",
        defaultValue: false,
      },
      { flags: '--no-check', description: 'do not check the kinds and permissions now' },
    ],
    examples: [
      'ksync resources create ./cluster -n default,shop --kinds deploy,svc,cm,ingress',
      'ksync resources create ./crds --context dev -k widgets.example.com -m two-way-safe',
      'ksync resources create ./mirror -n prod -k deploy,cm --read-only',
      'ksync resources create ./cfg -k cm,secrets --secrets --allow-delete',
    ],
    load: () => import('./commands/resources-create.ts'),
  },
  {
    name: 'resources kinds',
    summary: 'list the kinds a cluster serves that a resources sync can mirror',
    options: [...KUBE_OPTIONS, OUTPUT(['table', 'json', 'yaml'])],
    examples: ['ksync resources kinds', 'ksync resources kinds --context dev -o json'],
    load: () => import('./commands/resources-kinds.ts'),
  },
  {
    name: 'get',
    summary: 'show syncs with their state, last sync, sizes, conflicts and problems',
    args: '[name]',
    options: [OUTPUT(['table', 'wide', 'json', 'yaml', 'name'])],
    examples: ['ksync get', 'ksync get web -o wide', 'ksync get -o json | jq ".[].state"'],
    load: () => import('./commands/get.ts'),
  },
  {
    name: 'describe',
    summary: 'show one sync in full: state, problems with their side, what a halt would delete',
    args: '<name>',
    options: [OUTPUT(['table', 'json', 'yaml'])],
    examples: ['ksync describe web', 'ksync describe web -o yaml'],
    load: () => import('./commands/describe.ts'),
  },
  {
    name: 'watch',
    summary: 'keep every sync in sync (foreground, or --daemon in the background)',
    options: [
      {
        flags: '-d, --daemon',
        description: 'run in the background; log to $KSYNC_HOME/watch.log',
        defaultValue: false,
      },
      {
        flags: '--metrics-addr <host:port>',
        description: 'serve Prometheus metrics at http://HOST:PORT/metrics (off by default)',
      },
    ],
    examples: [
      'ksync watch',
      'ksync watch --daemon && ksync get',
      'ksync watch --daemon --metrics-addr 127.0.0.1:9464',
      'ksync stop',
    ],
    load: () => import('./commands/watch.ts'),
  },
  {
    name: 'stop',
    summary: 'stop the running watch',
    examples: ['ksync stop'],
    load: () => import('./commands/stop.ts'),
  },
  {
    name: 'run',
    summary: 'sync one spec in the foreground until Ctrl-C',
    args: '<name>',
    examples: ['ksync run web'],
    load: () => import('./commands/run.ts'),
  },
  {
    name: 'flush',
    summary: 'sync now and wait until both sides agree',
    args: '<name>',
    options: [
      { flags: '--timeout <duration>', description: 'give up after this long (e.g. 30s, 2m)' },
    ],
    examples: ['ksync flush web', 'ksync flush web --timeout 30s && make test'],
    load: () => import('./commands/flush.ts'),
  },
  {
    name: 'conflicts',
    summary: 'list conflicts that need a decision',
    args: '[name]',
    options: [OUTPUT(['table', 'json', 'yaml'])],
    examples: ['ksync conflicts', 'ksync conflicts web -o json'],
    load: () => import('./commands/conflicts.ts'),
  },
  {
    name: 'resolve',
    summary: "resolve a conflict by keeping one side's version",
    args: '<name> <path>',
    options: [
      {
        flags: '--keep <side>',
        description: 'which version wins: local or remote',
        choices: ['local', 'remote'],
      },
    ],
    examples: [
      'ksync resolve web src/app.ts --keep remote',
      'ksync resolve web config --keep local',
    ],
    load: () => import('./commands/resolve.ts'),
  },
  {
    name: 'pause',
    summary: 'stop syncing a spec until resume',
    args: '<name>',
    examples: ['ksync pause web'],
    load: () => import('./commands/pause.ts'),
  },
  {
    name: 'resume',
    summary: 'resume a paused sync, or allow a halted change once',
    args: '<name>',
    examples: ['ksync resume web'],
    load: () => import('./commands/resume.ts'),
  },
  {
    name: 'reset',
    summary: 'forget the last agreed state and lift a halt; the next sync merges both sides',
    args: '<name>',
    examples: ['ksync reset web'],
    load: () => import('./commands/reset.ts'),
  },
  {
    name: 'delete',
    summary: 'remove syncs and their state (files on both sides stay)',
    args: '[names...]',
    options: [
      { flags: '--all', description: 'delete every sync', defaultValue: false },
      {
        flags: '--force',
        description: 'delete even with unresolved conflicts (their saved versions go too)',
        defaultValue: false,
      },
    ],
    examples: ['ksync delete web', 'ksync delete --all', 'ksync delete web --force'],
    load: () => import('./commands/delete.ts'),
  },
  {
    name: 'init',
    summary: 'install the ksync agent on every node of a cluster, or update it',
    options: [
      ...KUBE_OPTIONS,
      {
        flags: '--image <image>',
        description: 'the agent image (default: the one for this version)',
      },
      {
        flags: '--upgrade',
        description: 'replace an agent of another version',
        defaultValue: false,
      },
      {
        flags: '--dry-run',
        description: 'print the objects instead of applying them (talks to no cluster)',
        defaultValue: false,
      },
      {
        flags: '-o, --output <format>',
        description: 'with --dry-run: yaml or json',
        completions: ['yaml', 'json'],
      },
      {
        flags: '--timeout <duration>',
        description: 'how long to wait for the rollout (default 3m)',
      },
    ],
    examples: [
      'ksync init',
      'ksync init --context staging --upgrade',
      'ksync init --dry-run -o yaml > ksync.yaml',
    ],
    load: () => import('./commands/init.ts'),
  },
  {
    name: 'uninstall',
    summary: 'remove the ksync agent and everything init created from a cluster',
    options: [
      ...KUBE_OPTIONS,
      {
        flags: '--timeout <duration>',
        description: 'how long to wait for the deletion (default 2m)',
      },
    ],
    examples: ['ksync uninstall', 'ksync uninstall --context staging'],
    load: () => import('./commands/uninstall.ts'),
  },
  {
    name: 'doctor',
    summary: 'check the cluster, the agent on every node and your permissions, with fixes',
    options: [
      ...KUBE_OPTIONS,
      {
        flags: '-n, --namespace <namespace>',
        description: "namespace of your workloads (default: the context's)",
      },
      OUTPUT(['table', 'json', 'yaml']),
    ],
    examples: ['ksync doctor', 'ksync doctor --context staging -o json'],
    load: () => import('./commands/doctor.ts'),
  },
  {
    name: 'version',
    summary: 'print the version',
    options: [OUTPUT(['table', 'json', 'yaml'])],
    examples: ['ksync version', 'ksync version -o json'],
    load: () => import('./commands/version.ts'),
  },
  {
    name: 'completion',
    summary: 'print a shell completion script',
    args: '<shell>',
    examples: ['source <(ksync completion bash)', 'ksync completion zsh > "${fpath[1]}/_ksync"'],
    load: () => import('./commands/completion.ts'),
  },
];
