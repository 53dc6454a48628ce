// pixret pages: names (files, queries, methods, datasets) as the page shows them. Invisible
// characters are shown as <U+XXXX>, the terminal's rule (pixret/escape.py terminal(), one line):
// control characters (C0, DEL, C1), every Unicode format character (Cf: the bidi overrides and
// isolates U+202A-202E and U+2066-2069, U+200E/U+200F, U+061C, zero-width ones) and the line and
// paragraph separators. Without it "bidi\u202Egpj.exe_b.jpg" reads as "bidib_exe.jpg"
// ("Trojan Source", CVE-2021-42574). Names still reach the page as text, never as markup.
"use strict";

const INVISIBLE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;

function visible(name) {
  return String(name ?? "").replace(INVISIBLE,
    (c) => `<U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}>`);
}
