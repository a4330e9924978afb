// How sure decoding was of a suggestion: what the confidence gate (CompleteOptions.minConfidence)
// compares. A wrong suggestion costs the user a read and an Escape; most of the wrong ones are ones
// decoding was unsure of, so hiding those raises the share of shown suggestions worth a Tab.

/** How the engine's declined reason starts when the confidence gate held a suggestion back. */
export const UNSURE = 'the model is unsure of it';

/**
 * The probability decoding gave the suggestion's first line: the product of its tokens'
 * probabilities, through the token that ends the line. Tokens that re-read the typed text (`healed`,
 * the bytes between the last stable token and the cursor) count, since they also choose what
 * follows it, but their typed bytes are not the suggestion: `,\n    ` after a typed `,` starts the
 * first line rather than ending it. A single-line suggestion is all first line; a multi-line one is
 * judged by the line the user reads first, as the product over every line would hide nearly all.
 */
export function firstLineProbability(
  ids: readonly number[],
  logprobs: readonly number[],
  tokenBytes: readonly string[],
  healed = '',
): number {
  let sum = 0;
  let text = false;
  let read = 0; // bytes generated so far, the healed ones first
  for (let i = 0; i < ids.length && i < logprobs.length; i++) {
    sum += logprobs[i];
    const bytes = tokenBytes[ids[i]] ?? '';
    const own = bytes.slice(Math.max(0, healed.length - read));
    read += bytes.length;
    const newline = own.indexOf('\n');
    // a newline ends the first line once it has text (a leading one only starts it)
    if (newline >= 0 && (text || own.slice(0, newline).trim() !== '')) break;
    if (own.trim() !== '') text = true;
  }
  return Math.exp(sum);
}
