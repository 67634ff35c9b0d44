/** What every command receives and returns. */
import type { HomePaths } from './home.ts';
import type { Output } from './output.ts';

/** The context main.ts builds for a command. */
export interface CommandContext {
  readonly output: Output;
  readonly home: HomePaths;
  /** Aborted on the first Ctrl-C / SIGTERM. */
  readonly signal: AbortSignal;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** How to start this CLI again (node, its flags and the entry script), for `watch --daemon`. */
  readonly self: readonly string[];
}

/** Parsed arguments: positionals in declaration order (variadic last as an array), options by key. */
export interface CommandInput {
  readonly args: readonly (string | string[] | undefined)[];
  readonly options: Readonly<Record<string, unknown>>;
}

/** A command's implementation; resolves to the exit code (default 0). */
export type CommandRun = (ctx: CommandContext, input: CommandInput) => Promise<number | void>;

/** A lazily loaded command module. */
export interface CommandModule {
  readonly run: CommandRun;
}

/** An option as the command table declares it. */
export interface OptionDef {
  readonly flags: string;
  readonly description: string;
  readonly defaultValue?: string | boolean;
  /** Repeatable: values collect into an array. */
  readonly repeatable?: boolean;
  readonly choices?: readonly string[];
  /** Values shell completion offers (checked by the command, not by the parser). */
  readonly completions?: readonly string[];
}

/** One row of the command table. */
export interface CommandDef {
  readonly name: string;
  readonly summary: string;
  /** Commander argument syntax, e.g. `<local> <remote>` or `[name]`. */
  readonly args?: string;
  readonly options?: readonly OptionDef[];
  readonly examples: readonly string[];
  readonly load: () => Promise<CommandModule>;
}

/** Reads a string option. */
export function stringOption(input: CommandInput, key: string): string | undefined {
  const value = input.options[key];
  return typeof value === 'string' ? value : undefined;
}

/** Reads a positional string argument. */
export function stringArg(input: CommandInput, index: number): string | undefined {
  const value = input.args[index];
  return typeof value === 'string' ? value : undefined;
}
