// The language header: a model trained with one reads `<eos> <|ts|>` (its manifest's format, filled
// with the corpus's language name) before every file, so it knows the language from the first token.
// Training writes the same names (models/training/tokenizer.py LANGUAGE_HEADER, corpus lang_of).

const BY_LANGUAGE_ID: Record<string, string> = {
  python: 'py',
  typescript: 'ts',
  typescriptreact: 'ts',
  javascript: 'js',
  javascriptreact: 'js',
};

const BY_EXTENSION: Record<string, string> = {
  py: 'py',
  pyi: 'py',
  ts: 'ts',
  tsx: 'ts',
  mts: 'ts',
  cts: 'ts',
  js: 'js',
  jsx: 'js',
  mjs: 'js',
  cjs: 'js',
};

/**
 * The header's language name for a document: from the editor's language id when it is one the corpus
 * has, else from the file's extension (a language the model never saw still gets its own name, so a
 * Rust file is not announced as Python), else "txt".
 */
export function headerLanguage(uri: string, languageId?: string): string {
  const byId = languageId ? BY_LANGUAGE_ID[languageId] : undefined;
  if (byId) return byId;
  const name = uri.slice(uri.lastIndexOf('/') + 1).split(/[?#]/)[0];
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
  if (BY_EXTENSION[ext]) return BY_EXTENSION[ext];
  if (/^[a-z0-9+]{1,8}$/.test(ext)) return ext;
  if (languageId && /^[a-z0-9+]{1,16}$/.test(languageId)) return languageId;
  return 'txt';
}

/** The header text for a model's format ("<|{}|>"), or "" when the model has none. */
export function headerText(format: string | undefined, language: string): string {
  return format ? format.replace('{}', language) : '';
}
