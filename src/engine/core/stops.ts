// Where a suggestion ends: the end of the line in single-line mode, the end of the block in
// multi-line mode. Pure functions over the text generated so far.

export interface StopRules {
  multiline: boolean;
  /** Most lines a multi-line suggestion may have. */
  maxLines: number;
  /** Indentation of the line the cursor is on: a later line indented less ends the block. */
  baseIndent: number;
  /** Columns of one tab, to compare indentation of tabs and spaces. */
  tabSize: number;
}

export function indentWidth(line: string, tabSize: number): number {
  let w = 0;
  for (const ch of line) {
    if (ch === ' ') w += 1;
    else if (ch === '\t') w += tabSize - (w % tabSize);
    else break;
  }
  return w;
}

/**
 * Checks generated text against the rules. Returns the text to keep when generation must stop,
 * or null to go on. Single-line: the first line with content ends at its newline (a suggestion may
 * start on the next line when the cursor line is already complete). Multi-line: stops before a
 * line indented less than the cursor line, at two blank lines, or after maxLines lines.
 */
export function checkStop(text: string, rules: StopRules): string | null {
  const lines = text.split('\n');
  if (!rules.multiline) {
    let content = -1;
    for (let i = 0; i < lines.length - 1; i++) {
      if (lines[i].trim() !== '') {
        content = i;
        break;
      }
    }
    if (content >= 0) return lines.slice(0, content + 1).join('\n');
    if (lines.length > 2) return lines.slice(0, 2).join('\n'); // only blank lines so far: give up
    return null;
  }
  let blanks = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const complete = i < lines.length - 1;
    if (line.trim() === '') {
      if (complete && ++blanks >= 2) return lines.slice(0, i - 1).join('\n');
      continue;
    }
    blanks = 0;
    const hasContentStart = /\S/.test(line);
    if (hasContentStart && indentWidth(line, rules.tabSize) < rules.baseIndent) {
      return lines.slice(0, i).join('\n');
    }
    if (i >= rules.maxLines) return lines.slice(0, i).join('\n');
  }
  return null;
}
