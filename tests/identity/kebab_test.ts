/**
 * Tests for `kebabCase`, which must reproduce Rust heck 0.5's `to_kebab_case` word splitting and
 * lowercasing exactly.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { kebabCase } from "../../lib/identity/kebab.ts";

const CASES: ReadonlyArray<readonly [string, string]> = [
  ["Testbed", "testbed"],
  ["echo_point", "echo-point"],
  ["echoPoint", "echo-point"],
  ["HTTPServer", "http-server"],
  ["loadTemplate", "load-template"],
  ["load_template", "load-template"],
  ["TemplateHost", "template-host"],
  ["XMLHttpRequest", "xml-http-request"],
  ["getV2Items", "get-v2-items"],
  ["HTTP2Server", "http2-server"],
  ["IOError", "io-error"],
  ["foo2Bar", "foo2-bar"],
  ["utf8_decode", "utf8-decode"],
  ["ABC", "abc"],
  ["aB", "a-b"],
  ["MY_SERVICE", "my-service"],
  ["MyService", "my-service"],
  ["__lead__trail__", "lead-trail"],
];

test("kebabCase() produces heck 0.5 output for the reference identifiers", () => {
  for (const [input, expected] of CASES) {
    assert.equal(kebabCase(input), expected, `kebabCase(${JSON.stringify(input)})`);
  }
});

test("kebabCase() leaves already-kebab names unchanged", () => {
  for (const name of ["testbed", "echo-point", "xml-http-request", "http2-server"]) {
    assert.equal(kebabCase(name), name);
  }
});

test("kebabCase() treats every non-alphanumeric character as a separator", () => {
  assert.equal(kebabCase("load template"), "load-template");
  assert.equal(kebabCase("load.template::Host"), "load-template-host");
  assert.equal(kebabCase("  --a--b--  "), "a-b");
});

test("kebabCase() returns an empty string when there are no alphanumerics", () => {
  assert.equal(kebabCase(""), "");
  assert.equal(kebabCase("___"), "");
  assert.equal(kebabCase("-_ .!"), "");
});

test("kebabCase() splits an acronym before its last capital when a lowercase follows", () => {
  assert.equal(kebabCase("ABc"), "a-bc");
  assert.equal(kebabCase("ABcD"), "a-bc-d");
  assert.equal(kebabCase("A"), "a");
  assert.equal(kebabCase("Ab"), "ab");
});

test("kebabCase() keeps digits with the preceding word", () => {
  assert.equal(kebabCase("v2"), "v2");
  assert.equal(kebabCase("2fa"), "2fa");
  assert.equal(kebabCase("sha256Sum"), "sha256-sum");
  assert.equal(kebabCase("ABC123Def"), "abc123-def");
});

test("kebabCase() lowercases a word-final capital sigma to final sigma", () => {
  assert.equal(kebabCase("ΣΑΣ"), "σας");
  assert.equal(kebabCase("Σ"), "ς");
  assert.equal(kebabCase("ΣΑΣ_ΣΑΣ"), "σας-σας");
  assert.equal(kebabCase("ΣΑΣΑ"), "σασα");
});

test("kebabCase() handles non-ASCII letters, digits and separators", () => {
  assert.equal(kebabCase("ÉcoleNormale"), "école-normale");
  assert.equal(kebabCase("naïveSet"), "naïve-set");
  assert.equal(kebabCase("foo—bar"), "foo-bar");
  assert.equal(kebabCase("données→résultat"), "données-résultat");
  assert.equal(kebabCase("foo\u00a0bar"), "foo-bar");
  assert.equal(kebabCase("value\u0663Item"), "value\u0663-item");
  assert.equal(kebabCase("中文Name"), "中文name");
  assert.equal(kebabCase("İstanbul"), "i\u0307stanbul");
});

test("kebabCase() scans by code point, not UTF-16 unit", () => {
  // U+1D400 MATHEMATICAL BOLD CAPITAL A is an uppercase letter outside the BMP.
  assert.equal(kebabCase("a\u{1d400}"), "a-\u{1d400}");
  assert.equal(kebabCase("x\u{1d400}\u{1d401}yz"), "x-\u{1d400}-\u{1d401}yz");
});

test("kebabCase() throws TypeError for a non-string", () => {
  assert.throws(() => kebabCase(42 as unknown as string), TypeError);
});
