// Does a suggestion stay in its file's language? The check behind `linea eval --first-line`: at the
// first line of a file the model has read nothing but the language header, so a suggestion in the
// wrong language (`def test_array(self):` atop a TypeScript file) shows the header is not heard.
//
// A one-line fragment rarely parses on its own, so the check is lexical: markers that only one family
// writes (Python vs JavaScript/TypeScript; TypeScript-only syntax in a .js file). A suggestion fails
// when the other family's markers outnumber its own; one with no markers (`foo(bar)`) passes.
import { cutsOnLines, type CutChooser, type LinePicker } from './evalProtocol';

export type Family = 'py' | 'js' | 'ts';

const PYTHON = [
  /\bdef\s+\w+\s*\(/,
  /\bself\./,
  /\belif\b/,
  /\b(None|True|False)\b/,
  /^\s*#(?!!)/,
  /^\s*from\s+[\w.]+\s+import\b/,
  /^\s*import\s+[\w.]+(\s+as\s+\w+)?\s*$/,
  /"""|'''/,
  /\blambda\b/,
  /^\s*(class\s+\w+.*|if .*|for .* in .*|while .*|with .*|try|except.*|else):\s*$/,
];

const JAVASCRIPT = [
  /\bfunction\b/,
  /\b(const|let|var)\s+[\w{[]/,
  /=>/,
  /;\s*$/,
  /\/\/|\/\*/,
  /\bthis\./,
  /\brequire\(/,
  /\bexport\b/,
  /===|!==|&&|\|\|/,
  /\{\s*$/,
  /^\s*import\s.*\bfrom\s+['"]/,
  /\b(null|undefined|true|false)\b/,
];

const TYPESCRIPT_ONLY = [
  /\binterface\s+\w+/,
  /\w\??:\s*(string|number|boolean|any|void|unknown|never)\b/,
  /^\s*(export\s+)?type\s+\w+\s*(<.*>)?\s*=/,
  /\bas\s+(const|string|number|any|unknown)\b/,
  /\b(private|public|protected|readonly)\s+\w/,
];

const count = (res: RegExp[], text: string) => res.filter((re) => re.test(text)).length;

/** The family a file name's extension belongs to, or null for other files. */
export function familyOf(file: string): Family | null {
  const m = /\.(\w+)$/.exec(file.toLowerCase());
  const ext = m?.[1] ?? '';
  if (ext === 'py' || ext === 'pyi') return 'py';
  if (['ts', 'tsx', 'mts', 'cts'].includes(ext)) return 'ts';
  if (['js', 'jsx', 'mjs', 'cjs'].includes(ext)) return 'js';
  return null;
}

/** Whether `suggestion` (one or more lines) could be code of `family`, by the markers above. */
export function looksLike(family: Family, suggestion: string): boolean {
  const lines = suggestion.split('\n');
  let py = 0;
  let js = 0;
  let tsOnly = 0;
  for (const line of lines) {
    py += count(PYTHON, line);
    js += count(JAVASCRIPT, line);
    tsOnly += count(TYPESCRIPT_ONLY, line);
  }
  if (family === 'py') return py >= js + tsOnly;
  if (family === 'js' && tsOnly > 0) return false;
  return js + tsOnly >= py;
}

/**
 * Seeded cuts on the first line of each file: the first line with at least 4 non-space characters,
 * at a random token boundary after its indentation (as the line protocol cuts), or at its start.
 */
export const chooseFirstLineCuts: CutChooser = (files, texts, tok, n, seed) =>
  cutsOnLines(files, texts, tok, n, seed, firstLine, true);

/** The first line with at least 4 non-space characters; draws nothing. */
const firstLine: LinePicker = (text) => {
  let start = 0;
  for (const line of text.split('\n')) {
    if (line.trim().length >= 4) return [start, start + line.length];
    start += line.length + 1;
  }
  return null;
};
