/**
 * The only place that writes to stdout and stderr. Results go to stdout (a table for people,
 * JSON or YAML for machines); messages, warnings, errors and progress go to stderr. Progress is
 * an ora spinner on a terminal and plain timestamped log lines otherwise (pipes, files, CI).
 * Colour only on a terminal, never with NO_COLOR set (https://no-color.org).
 */
import { stringify as toYaml } from 'yaml';
import { UserError } from './errors.ts';
import { escapeControls } from './format.ts';

/** How a command prints its result. */
export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml';

/** The formats `-o` accepts. */
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'wide', 'json', 'yaml'];

/** Parses `-o`; a `UserError` for anything else. */
export function parseOutputFormat(value: string, allowed = OUTPUT_FORMATS): OutputFormat {
  if ((allowed as readonly string[]).includes(value)) return value as OutputFormat;
  throw new UserError(`unknown output format "${value}"; use one of: ${allowed.join(', ')}`);
}

/** The streams and environment output depends on (tests pass their own). */
export interface OutputStreams {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly env: NodeJS.ProcessEnv;
}

/** Ongoing work: a spinner on a terminal, log lines otherwise. */
export interface Progress {
  /** Replaces the status text (throttled to one log line a second without a terminal). */
  update(text: string): void;
  /** Prints a line above the spinner. */
  log(text: string): void;
  succeed(text: string): void;
  fail(text: string): void;
  stop(): void;
}

type Style = 'red' | 'yellow' | 'green' | 'dim' | 'bold';
const CODES: Readonly<Record<Style, [number, number]>> = {
  red: [31, 39],
  yellow: [33, 39],
  green: [32, 39],
  dim: [2, 22],
  bold: [1, 22],
};

/** Whether colour is wanted on `stream`, per NO_COLOR / FORCE_COLOR / TERM=dumb. */
export function wantsColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0')
    return true;
  return stream.isTTY === true && env.TERM !== 'dumb';
}

/** All user-facing output. */
export class Output {
  readonly #streams: OutputStreams;
  /** Colour on stderr (messages); stdout results are never coloured when piped. */
  readonly color: boolean;
  /** A person watches stderr: spinners are shown. */
  readonly interactive: boolean;

  constructor(streams: OutputStreams) {
    this.#streams = streams;
    this.color = wantsColor(streams.stderr, streams.env);
    // A pty with no size (columns 0) would make the spinner's line maths clear endless lines.
    this.interactive =
      streams.stderr.isTTY === true &&
      (streams.stderr.columns ?? 0) > 0 &&
      streams.env.CI === undefined;
  }

  /** Prints a result: JSON or YAML of `value`, or the human text from `human`. */
  result(value: unknown, format: OutputFormat, human: () => string): void {
    if (format === 'json') this.#streams.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    else if (format === 'yaml') this.#streams.stdout.write(toYaml(value));
    else this.#streams.stdout.write(human());
  }

  /** A one-line confirmation on stdout ("created sync web"). */
  done(text: string): void {
    this.#streams.stdout.write(`${text}\n`);
  }

  /** An informational line on stderr. */
  info(text: string): void {
    this.#streams.stderr.write(`${text}\n`);
  }

  /** A warning line; a control character in it (a newline in a file name) is shown escaped. */
  warn(text: string): void {
    this.#streams.stderr.write(`${this.paint('yellow', 'warning:')} ${escapeControls(text)}\n`);
  }

  error(text: string): void {
    this.#streams.stderr.write(`${this.paint('red', 'error:')} ${text}\n`);
  }

  /** A timestamped log line on stderr (the watch's log), one line whatever `text` holds. */
  log(text: string): void {
    this.#streams.stderr.write(`${new Date().toISOString()} ${escapeControls(text)}\n`);
  }

  /** Wraps `text` in a colour when colour is on. */
  paint(style: Style, text: string): string {
    if (!this.color) return text;
    const [open, close] = CODES[style];
    return `\u001b[${open}m${text}\u001b[${close}m`;
  }

  /** Starts showing progress. */
  async progress(text: string): Promise<Progress> {
    if (!this.interactive) return this.#plainProgress(text);
    const { default: ora } = await import('ora');
    const spinner = ora({
      text,
      stream: this.#streams.stderr,
      color: this.color ? 'cyan' : false,
      isEnabled: true,
      // ora's default puts the terminal in raw mode to swallow keystrokes and turns ^C back
      // into SIGINT itself, but its listener never makes Node read stdin, so ^C and ^\ were
      // lost. Left alone, the terminal turns them into SIGINT and SIGQUIT as for any program.
      discardStdin: false,
    }).start();
    return {
      update: (t) => {
        spinner.text = t;
      },
      log: (t) => {
        spinner.clear();
        this.#streams.stderr.write(`${escapeControls(t)}\n`);
        spinner.render();
      },
      succeed: (t) => {
        spinner.succeed(t);
      },
      fail: (t) => {
        spinner.fail(t);
      },
      stop: () => {
        spinner.stop();
      },
    };
  }

  #plainProgress(text: string): Progress {
    let last = '';
    let lastAt = 0;
    const emit = (t: string, force: boolean): void => {
      const now = Date.now();
      if (t === last || (!force && now - lastAt < 1000)) return;
      last = t;
      lastAt = now;
      this.log(t);
    };
    emit(text, true);
    return {
      update: (t) => emit(t, false),
      log: (t) => this.log(t),
      succeed: (t) => this.log(t),
      fail: (t) => this.log(t),
      stop: () => undefined,
    };
  }
}
