// Cleaning a raw suggestion before it is shown. Each rule is a small pure function; `postprocess`
// applies them in order.

export interface SuggestionContext {
  /** Text before the cursor on the cursor's line. */
  linePrefix: string;
  /** Text after the cursor on the cursor's line. */
  lineSuffix: string;
  /** The lines before the cursor's line, nearest last (a few are enough). */
  prevLines: string[];
  /** The lines after the cursor's line (a few are enough). */
  nextLines: string[];
  /** The file's indentation unit: '\t' or a run of spaces. */
  indentUnit: string;
}

const CLOSERS: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
const OPENERS = new Set(['(', '[', '{']);
const AUTO_CLOSED = /^[)\]}"'`;]+$/;

/** Whitespace-only suggestions show nothing. */
export function dropBlank(text: string): string | null {
  return text.trim() === '' ? null : text;
}

/**
 * Spaces and tabs ending any line, and trailing blank lines, are invisible noise (and linters flag
 * them); leading indentation is kept. The `m` flag also ends a line before `\r`.
 */
export function trimTrailing(text: string): string {
  return text.replace(/[ \t]+$/gm, '').replace(/\s+$/, '');
}

/**
 * Cuts a loop: a line repeated back to back is kept once, and a run of at least 4 characters that
 * repeats three or more times at the end of a line is kept once.
 */
export function stopRepetition(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  for (const line of lines) {
    const prev = out[out.length - 1];
    if (prev !== undefined && line.trim() !== '' && line === prev) break;
    out.push(line);
  }
  return out
    .map((line) => {
      const m = /(.{4,}?)\1{2,}$/.exec(line);
      return m ? line.slice(0, m.index + m[1].length) : line;
    })
    .join('\n');
}

/** Closers at the end of the suggestion that have no opener inside it. */
function unmatchedClosersAtEnd(text: string): number {
  const stack: string[] = [];
  const unmatched: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (OPENERS.has(ch)) stack.push(ch);
    else if (ch in CLOSERS) {
      if (stack.length > 0 && stack[stack.length - 1] === CLOSERS[ch]) stack.pop();
      else unmatched.push(i);
    }
  }
  let n = 0;
  for (let i = text.length - 1; i >= 0 && unmatched.includes(i); i--) n++;
  return n;
}

/**
 * The rest of the line is already in the document: a single-line suggestion that ends with it (or
 * with the closing brackets it starts with) loses that tail, so accepting never doubles ")" or ");".
 */
export function trimLineSuffix(text: string, lineSuffix: string): string {
  const suffix = lineSuffix.trim();
  if (suffix === '' || text.includes('\n')) return text;
  // Closers, quotes and `;` alone after the cursor are what the editor auto-inserts: the item's range
  // replaces those the suggestion writes (autoClosedSpan), so the text keeps them; `bar(|)` + `foo(a)`.
  if (AUTO_CLOSED.test(suffix)) return text;
  if (text.endsWith(suffix) && text.length > suffix.length) return text.slice(0, -suffix.length);
  // "foo(|)" completed as "a, b)": drop the unmatched closers that the suffix already has.
  const closersAhead = /^[)\]}]+/.exec(suffix)?.[0] ?? '';
  let out = text;
  let n = unmatchedClosersAtEnd(out);
  while (n > 0 && closersAhead.includes(out[out.length - 1])) {
    out = out.slice(0, -1);
    n--;
  }
  return out;
}

/** A multi-line suggestion whose last lines repeat the lines after the cursor loses them. */
export function trimFollowingLines(text: string, nextLines: string[]): string {
  const lines = text.split('\n');
  const next = nextLines.map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length < 2 || next.length === 0) return text;
  // Find the first suggested line (after the first) that starts the following code, then cut there.
  for (let i = 1; i < lines.length; i++) {
    const rest = lines
      .slice(i)
      .map((l) => l.trim())
      .filter((l) => l !== '');
    if (rest.length > 0 && rest.every((l, k) => k < next.length && l === next[k])) {
      return lines.slice(0, i).join('\n');
    }
  }
  return text;
}

/** A completed line that only closes, or is short enough to be a keyword (`}`, `end`, `</div>`). */
const MAY_REPEAT = /^([)\]}'"`;,.:\s]*|<\/.*|.{0,5})$/;

/**
 * Which neighbour a suggestion's first line, once written, copies: the nearest non-blank line above or
 * below the cursor's, or null. Real code rarely repeats a line next to itself (0.04% of the lines of six
 * characters or more in the validation split's files, each way); suggestions do, where recall and the
 * copy path echo the code around the cursor. Lines that legitimately repeat count as no copy
 * (MAY_REPEAT).
 */
export function echoedLine(text: string, ctx: SuggestionContext): 'above' | 'below' | null {
  const multiline = text.includes('\n');
  const line = (ctx.linePrefix + text.split('\n')[0] + (multiline ? '' : ctx.lineSuffix)).trim();
  if (MAY_REPEAT.test(line)) return null;
  const nearest = (lines: string[]) => lines.map((l) => l.trim()).find((l) => l !== '');
  if (line === nearest([...ctx.prevLines].reverse())) return 'above';
  return line === nearest(ctx.nextLines) ? 'below' : null;
}

/** Re-indents suggested lines in the file's style (tabs vs spaces); the model writes both. */
export function matchIndentation(text: string, indentUnit: string): string {
  const lines = text.split('\n');
  const useTabs = indentUnit === '\t';
  const width = useTabs ? 4 : Math.max(1, indentUnit.length);
  for (let i = 1; i < lines.length; i++) {
    const m = /^[ \t]+/.exec(lines[i]);
    if (!m) continue;
    const lead = m[0];
    if (useTabs && lead.includes(' ')) {
      let cols = 0;
      for (const ch of lead) cols += ch === '\t' ? 4 - (cols % 4) : 1;
      lines[i] =
        '\t'.repeat(Math.floor(cols / 4)) + ' '.repeat(cols % 4) + lines[i].slice(lead.length);
    } else if (!useTabs && lead.includes('\t')) {
      lines[i] = lead.replace(/\t/g, ' '.repeat(width)) + lines[i].slice(lead.length);
    }
  }
  return lines.join('\n');
}

/** Guesses the file's indentation unit from its leading whitespace. */
export function detectIndent(text: string): string {
  let tabs = 0;
  const widths = new Map<number, number>();
  let prev = 0;
  for (const line of text.split('\n', 2000)) {
    const m = /^[ \t]*/.exec(line)![0];
    if (line.trim() === '') continue;
    if (m.startsWith('\t')) tabs++;
    else {
      const d = Math.abs(m.length - prev);
      if (d > 0) widths.set(d, (widths.get(d) ?? 0) + 1);
      prev = m.length;
    }
  }
  let best = 4;
  let count = 0;
  for (const [w, c] of widths) if (c > count && w <= 8) [best, count] = [w, c];
  return tabs > count ? '\t' : ' '.repeat(best);
}

/** A suggestion's text after the rules, or null with the reason it shows nothing (for the debug log). */
export type Shaped = { text: string; declined: null } | { text: null; declined: string };

export function postprocess(raw: string, ctx: SuggestionContext): Shaped {
  let text = stopRepetition(raw);
  text = trimFollowingLines(text, ctx.nextLines);
  text = trimLineSuffix(text, ctx.lineSuffix);
  text = matchIndentation(text, ctx.indentUnit);
  text = trimTrailing(text);
  if (dropBlank(text) === null) return { text: null, declined: 'nothing left after clean-up' };
  const echo = echoedLine(text, ctx);
  if (echo) return { text: null, declined: `it copies the line ${echo}` };
  return { text, declined: null };
}

const QUOTES = new Set(['"', "'", '`']);

/**
 * How many characters right after the cursor the suggestion should replace: the closers and quotes
 * that the editor auto-inserted (`if (|)`, `f("|")`) and that the suggestion writes itself. Only a
 * closer the suggestion does not open itself counts (`a)` in `foo(a)` is its own), and only a quote
 * that ends the string the cursor stands in. Giving the inline item this range is VS Code's way to
 * let accepting `x)) {` in `if (|)` leave `if (x)) {` rather than `if (x)) {)`.
 */
export function autoClosedSpan(text: string, lineSuffix: string): number {
  const run = /^[)\]}"'`;]*/.exec(lineSuffix)![0];
  if (run === '') return 0;
  const firstLine = text.split('\n', 1)[0];
  const stack: string[] = [];
  // A suffix that starts with a quote means the cursor is inside that string: until the quote comes,
  // brackets in the suggestion are string content.
  let inString: string | null = QUOTES.has(run[0]) ? run[0] : null;
  let outerString = inString !== null;
  let j = 0;
  for (let i = 0; i < firstLine.length && j < run.length; i++) {
    const ch = firstLine[i];
    if (inString !== null) {
      if (ch === '\\') i++;
      else if (ch === inString) {
        if (outerString && ch === run[j]) j++;
        inString = null;
        outerString = false;
      }
    } else if (QUOTES.has(ch)) {
      if (ch === run[j] && stack.length === 0) j++;
      else inString = ch;
    } else if (ch === ';') {
      if (ch === run[j] && stack.length === 0) j++;
    } else if (OPENERS.has(ch)) stack.push(ch);
    else if (ch in CLOSERS) {
      if (stack.length > 0 && stack[stack.length - 1] === CLOSERS[ch]) stack.pop();
      else if (ch === run[j]) j++;
      else break; // a closer the line does not have: stop matching here
    }
  }
  return j;
}
