/**
 * Conversion of identifiers to kebab-case with exactly the word-splitting rules of the Rust `heck`
 * crate (version 0.5, `ToKebabCase`), so that names derived on the TypeScript side agree with the
 * ones Rust services compute: the input is split at every character that is not alphanumeric,
 * each piece is split further at lower-to-upper case changes and before the last capital of an
 * acronym that starts a new word, and the words are lowercased and joined with `-`.
 *
 * @module
 */

/** Rust `char::is_alphanumeric`: Unicode Alphabetic, or general category Nd, Nl or No. */
const ALPHANUMERIC = /^[\p{Alphabetic}\p{N}]$/u;
/** Rust `char::is_uppercase`: the Unicode Uppercase property. */
const UPPERCASE = /^\p{Uppercase}$/u;
/** Rust `char::is_lowercase`: the Unicode Lowercase property. */
const LOWERCASE = /^\p{Lowercase}$/u;

/** Modes: the case of the last cased character seen since the last word boundary. */
const BOUNDARY = 0;
const LOWER = 1;
const UPPER = 2;

/** Lowercases one word the way heck does: per code point, with a word-final `Σ` becoming `ς`. */
function lowerWord(chars: readonly string[], start: number, end: number): string {
  let out = "";
  for (let i = start; i < end; i++) {
    const c = chars[i]!;
    out += c === "Σ" && i === end - 1 ? "ς" : c.toLowerCase();
  }
  return out;
}

/** Splits one alphanumeric piece (given as code points) into lowercased words appended to `words`. */
function splitPiece(chars: readonly string[], words: string[]): void {
  const n = chars.length;
  let init = 0;
  let mode: number = BOUNDARY;
  for (let i = 0; i < n; i++) {
    const c = chars[i]!;
    if (i === n - 1) {
      words.push(lowerWord(chars, init, n));
      break;
    }
    const next = chars[i + 1]!;
    const isLower = LOWERCASE.test(c);
    const isUpper = UPPERCASE.test(c);
    const modeWithCurrent = isLower ? LOWER : isUpper ? UPPER : mode;
    if (modeWithCurrent === LOWER && UPPERCASE.test(next)) {
      // `loadTemplate`: boundary after the current character.
      words.push(lowerWord(chars, init, i + 1));
      init = i + 1;
      mode = BOUNDARY;
    } else if (mode === UPPER && isUpper && LOWERCASE.test(next)) {
      // `HTTPServer`: boundary before the current character.
      words.push(lowerWord(chars, init, i));
      init = i;
      mode = BOUNDARY;
    } else {
      mode = modeWithCurrent;
    }
  }
}

/**
 * Converts a name to kebab-case exactly like Rust `heck` 0.5's `to_kebab_case`.
 *
 * Every non-alphanumeric character separates words (leading, trailing and repeated separators
 * disappear); inside a run of alphanumerics a word ends after a lowercase character (or an uncased
 * one following it) that is followed by an uppercase one, and an acronym ends before its last
 * capital when that capital is followed by a lowercase character. Words are lowercased and joined
 * with `-`.
 *
 * @param name The identifier to convert, e.g. a Rust type or method name.
 * @returns The kebab-case form; an empty string if `name` has no alphanumeric characters.
 * @throws {TypeError} If `name` is not a string.
 *
 * @example Convert service and method names
 * ```ts
 * import { kebabCase } from "@roam/roam/wire";
 *
 * console.log(kebabCase("TemplateHost")); // template-host
 * console.log(kebabCase("XMLHttpRequest")); // xml-http-request
 * console.log(kebabCase("load_template")); // load-template
 * ```
 */
export function kebabCase(name: string): string {
  if (typeof name !== "string") {
    throw new TypeError("kebabCase: name must be a string");
  }
  const words: string[] = [];
  let piece: string[] = [];
  for (const c of name) {
    if (ALPHANUMERIC.test(c)) {
      piece.push(c);
    } else if (piece.length > 0) {
      splitPiece(piece, words);
      piece = [];
    }
  }
  if (piece.length > 0) splitPiece(piece, words);
  return words.join("-");
}
