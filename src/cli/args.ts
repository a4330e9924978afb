// A small typed argument parser: --flag, --key value, --key=value, positionals; unknown flags fail.

export interface ParsedArgs {
  positional: string[];
  flags: Map<string, string | true>;
}

export class UsageError extends Error {}

export function parseArgs(argv: string[], known: Record<string, 'bool' | 'value'>): ParsedArgs {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    const kind = known[name];
    if (!kind) throw new UsageError(`unknown option --${name}`);
    if (kind === 'bool') flags.set(name, true);
    else {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
    }
  }
  return { positional, flags };
}

export function intFlag(args: ParsedArgs, name: string, fallback: number, min = 0): number {
  const v = args.flags.get(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer >= ${min}, got ${String(v)}`);
  return n;
}

export function listFlag(args: ParsedArgs, name: string, fallback: number[]): number[] {
  const v = args.flags.get(name);
  if (v === undefined || v === true) return fallback;
  return v.split(',').map((x) => {
    const n = Number(x.trim().replace(/k$/i, '000'));
    if (!Number.isInteger(n) || n <= 0)
      throw new UsageError(`--${name}: "${x}" is not a positive integer`);
    return n;
  });
}
/** --recall on|off (default on). */
export function recallFlag(args: ParsedArgs): boolean {
  const v = (args.flags.get('recall') as string | undefined) ?? 'on';
  if (v !== 'on' && v !== 'off') throw new UsageError(`--recall takes on or off, not ${v}`);
  return v === 'on';
}
