/**
 * Label selector syntax, checked before anything talks to a cluster (the grammar of
 * apimachinery's `labels.Parse`): comma-separated requirements, each `key`, `!key`, `key=value`,
 * `key==value`, `key!=value`, `key in (v1,v2)` or `key notin (v1,v2)`. A key is an optional DNS
 * subdomain prefix and `/`, then a name of up to 63 characters; a value is empty or such a name.
 */
const NAME = '[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?';
const KEY = `([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?${NAME}`;
const VALUE = `(${NAME})?`;
const REQUIREMENT = new RegExp(
  `^\\s*(!\\s*${KEY}|${KEY}\\s*(==?|!=)\\s*${VALUE}|${KEY}\\s+(in|notin)\\s*\\(\\s*${VALUE}(\\s*,\\s*${VALUE})*\\s*\\)|${KEY})\\s*$`,
);

/** Why `selector` is not a label selector, or undefined when it is one. */
export function validateSelector(selector: string): string | undefined {
  if (selector.trim() === '') return 'the selector is empty; pass one such as --selector app=demo';
  for (const requirement of splitRequirements(selector)) {
    if (!REQUIREMENT.test(requirement)) {
      return `selector "${selector}" is not valid at "${requirement.trim()}"; use key=value, key!=value, key in (a,b), key or !key, separated by commas`;
    }
  }
  return undefined;
}

/** Splits on commas outside parentheses. */
function splitRequirements(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(selector.slice(start));
  return parts;
}
