/** `ksync completion bash|zsh`: scripts generated from the command table. */
import { stringArg, type CommandRun } from '../command.ts';
import { COMMANDS } from '../commands.ts';
import { UserError } from '../errors.ts';

/** Prints a completion script. */
export const run: CommandRun = async (ctx, input) => {
  const shell = stringArg(input, 0);
  if (shell === 'bash') ctx.output.result(null, 'table', () => bashScript());
  else if (shell === 'zsh') ctx.output.result(null, 'table', () => zshScript());
  else throw new UserError(`unsupported shell "${shell ?? ''}"; use bash or zsh`);
};

/** Commands whose first argument is a sync name. */
const TAKES_NAME = COMMANDS.filter((c) => /^[<[]name/.test(c.args ?? '')).map((c) => c.name);

/** The bash completion script. */
export function bashScript(): string {
  const flags = COMMANDS.map(
    (c) =>
      `    ${c.name}) flags="${(c.options ?? []).flatMap((o) => o.flags.split(/[ ,]+/).filter((f) => f.startsWith('-'))).join(' ')} --help" ;;`,
  ).join('\n');
  return `# ksync bash completion: source <(ksync completion bash)
_ksync() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmd="\${COMP_WORDS[1]}" flags=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${COMMANDS.map((c) => c.name).join(' ')} help" -- "$cur"))
    return
  fi
  case "$cmd" in
${flags}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif [ "$COMP_CWORD" -eq 2 ] && [[ " ${TAKES_NAME.join(' ')} " == *" $cmd "* ]]; then
    COMPREPLY=($(compgen -W "$(ksync get -o name 2>/dev/null)" -- "$cur"))
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
export function zshScript(): string {
  return `#compdef ksync
# ksync zsh completion: source <(ksync completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bashScript()}`;
}
