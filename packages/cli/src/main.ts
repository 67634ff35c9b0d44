#!/usr/bin/env node
/**
 * The ksync CLI entry point: builds the commands from the table, runs one, and is the only place
 * that exits the process. Every error ends up in the one catch below and becomes a one-line
 * message and an exit code (docs/cli.md lists them).
 */
import { Command, CommanderError, Option } from 'commander';
import { KSYNC_VERSION } from '@ksync/core';
import type { CommandContext, CommandDef, CommandInput } from './command.ts';
import { COMMANDS } from './commands.ts';
import { EXIT, describeError } from './errors.ts';
import { resolveHome } from './home.ts';
import { Output } from './output.ts';

/** Longest a clean stop after Ctrl-C or SIGTERM may take before the process just exits. */
const STOP_LIMIT_MS = 8000;

async function main(argv: readonly string[]): Promise<number> {
  const output = new Output({ stdout: process.stdout, stderr: process.stderr, env: process.env });
  const interrupt = new AbortController();
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupts++;
    if (interrupts > 1 || signal === 'SIGHUP') {
      output.info('interrupted again; exiting now');
      process.exit(EXIT.interrupted);
    }
    interrupt.abort();
    // A clean stop is bounded: whatever a sync is busy with, the process ends within seconds.
    setTimeout(() => {
      output.info(`did not stop within ${STOP_LIMIT_MS / 1000}s; exiting now`);
      process.exit(EXIT.interrupted);
    }, STOP_LIMIT_MS).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let exitCode: number = EXIT.ok;
  try {
    const ctx: CommandContext = {
      output,
      home: resolveHome(process.env),
      signal: interrupt.signal,
      cwd: process.cwd(),
      env: process.env,
      self: [process.execPath, ...process.execArgv, process.argv[1] ?? ''],
    };
    const program = buildProgram(ctx, output, (code) => {
      exitCode = code;
    });
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed help, the version or its one-line usage error.
      return error.exitCode === 0 ? EXIT.ok : EXIT.user;
    }
    const report = describeError(error);
    output.error(report.message);
    if (report.detail !== undefined && process.env.KSYNC_DEBUG !== undefined) {
      output.info(report.detail);
    }
    return report.exitCode;
  }
  return exitCode;
}

function buildProgram(
  ctx: CommandContext,
  output: Output,
  setExit: (code: number) => void,
): Command {
  const program = new Command('ksync')
    .description('keep a local directory and a directory in a container in sync, both ways')
    .version(KSYNC_VERSION, '-v, --version')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => process.stdout.write(text),
      writeErr: (text) => process.stderr.write(text),
      outputError: (text) => output.error(text.replace(/^error: /, '').trim()),
    })
    .addHelpText(
      'after',
      '\nState lives in $KSYNC_HOME (default ~/.ksync). Run "ksync <command> --help" for examples.',
    );
  for (const def of COMMANDS) addCommand(parentOf(program, def), def, ctx, setExit);
  return program;
}

/**
 * Where a command goes: the program, or for a two-word name (`resources create`) the group
 * command of its first word, made on first use.
 */
function parentOf(program: Command, def: CommandDef): Command {
  const space = def.name.indexOf(' ');
  if (space === -1) return program;
  const word = def.name.slice(0, space);
  const found = program.commands.find((c) => c.name() === word);
  if (found !== undefined) return found;
  const group = program
    .command(word)
    .description(GROUPS[word] ?? word)
    .exitOverride();
  group.configureOutput(program.configureOutput());
  return group;
}

/** The summaries of command groups. */
const GROUPS: Readonly<Record<string, string>> = {
  resources: 'cluster objects as a YAML tree kept in sync (create, kinds)',
};

function addCommand(
  program: Command,
  def: CommandDef,
  ctx: CommandContext,
  setExit: (code: number) => void,
): void {
  const name = def.name.slice(def.name.lastIndexOf(' ') + 1);
  const command = program.command(`${name}${def.args === undefined ? '' : ` ${def.args}`}`);
  command.description(def.summary).exitOverride();
  command.configureOutput(program.configureOutput());
  for (const o of def.options ?? []) {
    const option = new Option(o.flags, o.description);
    if (o.choices !== undefined) option.choices(o.choices);
    if (o.repeatable === true) {
      option.argParser((value: string, previous: string[] | undefined) => [
        ...(previous ?? []),
        value,
      ]);
    }
    if (o.defaultValue !== undefined) option.default(o.defaultValue);
    command.addOption(option);
  }
  command.addHelpText('after', `\nExamples:\n${def.examples.map((e) => `  ${e}`).join('\n')}\n`);
  command.action(async (...params: unknown[]) => {
    // Commander passes the positionals, then the options object, then the command.
    const positionals = params.slice(0, -2) as CommandInput['args'];
    const options = params.at(-2) as Record<string, unknown>;
    const module = await def.load();
    const code = await module.run(ctx, { args: positionals, options });
    setExit(code ?? EXIT.ok);
  });
}

/**
 * Resolves once everything written to `stream` so far has been handed to the OS. A pipe is
 * written asynchronously: exiting before would cut a long `-o json` at 64 KiB boundaries.
 */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}

/** Ends the process with `code` once its output is out. */
async function exitWith(code: number): Promise<never> {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

// The one place that ends the process: open handles (watchers, sockets) must not keep a
// finished command alive.
main(process.argv.slice(2)).then(
  (code) => exitWith(code),
  (error: unknown) => {
    process.stderr.write(`internal error: ${String(error)}\n`);
    return exitWith(EXIT.internal);
  },
);
