/** `ksync completion bash|zsh`: scripts generated from the command table. */
import { stringArg, type CommandRun } from '../command.ts';
import type { CommandDef } from '../command.ts';
import { COMMANDS } from '../commands.ts';
import { UserError } from '../errors.ts';
import { shellQuote } from '../format.ts';

/**
 * Prints a completion script. The script runs this very ksync by absolute path (node and its
 * entry script) to list sync names, so it works when ksync is not on PATH.
 */
export const run: CommandRun = async (ctx, input) => {
  const shell = stringArg(input, 0);
  const self = ctx.self.map(shellQuote).join(' ');
  if (shell === 'bash') ctx.output.result(null, 'table', () => bashScript(self));
  else if (shell === 'zsh') ctx.output.result(null, 'table', () => zshScript(self));
  else throw new UserError(`unsupported shell "${shell ?? ''}"; use bash or zsh`);
};

/** Commands whose first argument is a sync name. */
const TAKES_NAME = COMMANDS.filter((c) => /^[<[]name/.test(c.args ?? '')).map((c) => c.name);

/**
 * The command table by first word: a command (`get`) alone, or a group's subcommands
 * (`resources create`, `resources kinds`), whose flags bash offers together.
 */
function commandWords(): Map<string, CommandDef[]> {
  const words = new Map<string, CommandDef[]>();
  for (const def of COMMANDS) {
    const word = def.name.split(' ')[0] ?? def.name;
    words.set(word, [...(words.get(word) ?? []), def]);
  }
  return words;
}

/** An option's flag spellings (`-o`, `--output`). */
function spellings(flags: string): string[] {
  return flags.split(/[ ,]+/).filter((f) => f.startsWith('-'));
}

/**
 * The bash completion script; `self` is the shell command that runs this ksync. Per command it
 * offers the flags, the values of an option that has a fixed set (`-o`, `-m`, `--keep`), and
 * sync names for a first argument that is one.
 */
export function bashScript(self: string): string {
  const cases = [...commandWords()]
    .map(([word, defs]) => {
      const options = defs.flatMap((c) => c.options ?? []);
      const values = options
        .filter((o) => (o.completions ?? o.choices) !== undefined)
        .map(
          (o) =>
            `${spellings(o.flags).join('|')}) values="${(o.completions ?? o.choices ?? []).join(' ')}" ;;`,
        );
      const flags = `flags="${[...new Set(options.flatMap((o) => spellings(o.flags)))].join(' ')} --help"`;
      return `    ${word}) ${flags}${values.length === 0 ? '' : `; case "$prev" in ${[...new Set(values)].join(' ')} esac`} ;;`;
    })
    .join('\n');
  const subcommands = [...commandWords()]
    .filter(([, defs]) => defs.some((d) => d.name.includes(' ')))
    .map(
      ([word, defs]) =>
        `  elif [ "$COMP_CWORD" -eq 2 ] && [ "$cmd" = ${word} ]; then\n    COMPREPLY=($(compgen -W "${defs.map((d) => d.name.split(' ')[1] ?? '').join(' ')}" -- "$cur"))`,
    )
    .join('\n');
  return `# ksync bash completion: source <(ksync completion bash)
_ksync() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" cmd="\${COMP_WORDS[1]}" flags="" values=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${[...commandWords().keys()].join(' ')} help" -- "$cur"))
    return
  fi
  case "$cmd" in
${cases}
  esac
  if [ -n "$values" ]; then
    COMPREPLY=($(compgen -W "$values" -- "$cur"))
  elif [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
${subcommands}
  elif [ "$COMP_CWORD" -eq 2 ] && [[ " ${TAKES_NAME.join(' ')} " == *" $cmd "* ]]; then
    COMPREPLY=($(compgen -W "$(${self} get -o name 2>/dev/null)" -- "$cur"))
  elif [ "$cmd" = completion ]; then
    COMPREPLY=($(compgen -W "bash zsh" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _ksync ksync
`;
}

/** The zsh completion script (bash's, through bashcompinit). */
export function zshScript(self: string): string {
  return `#compdef ksync
# ksync zsh completion: source <(ksync completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bashScript(self)}`;
}
