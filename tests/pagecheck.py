"""What a page must hold on every screen, measured in the browser (Playwright): nothing wider
than the window outside a box that scrolls, nothing spilling out of its tile, no text drawn
under a picture or its outline."""

from __future__ import annotations

_PROBLEMS = """() => {
  const W = document.documentElement.clientWidth, out = [];
  const say = (e) => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') +
    (e.textContent ? ' "' + e.textContent.trim().slice(0, 40) + '"' : '');
  const scrolls = (e) => { for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
    const o = getComputedStyle(a).overflowX; if (o === 'auto' || o === 'scroll') return true; } return false; };
  const all = [...document.body.querySelectorAll('*')];
  // 1. wider than the window, outside a box that scrolls sideways
  for (const e of all) {
    const r = e.getBoundingClientRect();
    if (r.width && (r.right > W + 1 || r.left < -1) && !scrolls(e)) out.push('off screen: ' + say(e));
  }
  // 2. out of its tile (a figure holds its picture and caption)
  for (const f of document.querySelectorAll('figure')) {
    const b = f.getBoundingClientRect();
    for (const c of f.querySelectorAll('*')) {
      const r = c.getBoundingClientRect();
      if (r.width && (r.left < b.left - 1 || r.right > b.right + 1 || r.top < b.top - 1 || r.bottom > b.bottom + 1))
        out.push('out of its tile: ' + say(c));
    }
  }
  // 3. text under a picture, or under the outline drawn around one (an outline takes no room)
  const pics = [...document.querySelectorAll('img, canvas')].map((p) => {
    const r = p.getBoundingClientRect(), s = getComputedStyle(p);
    const o = s.outlineStyle === 'none' ? 0 : Math.max(0, parseFloat(s.outlineWidth) + parseFloat(s.outlineOffset));
    return {p, l: r.left - o, r: r.right + o, t: r.top - o, b: r.bottom + o};
  }).filter((x) => x.r > x.l);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.textContent.trim()) continue;
    const range = document.createRange(); range.selectNodeContents(n);
    for (const t of range.getClientRects()) {
      for (const x of pics) {
        const w = Math.min(t.right, x.r) - Math.max(t.left, x.l), h = Math.min(t.bottom, x.b) - Math.max(t.top, x.t);
        if (w > 0.5 && h > 0.5) { out.push('text under a picture: "' + n.textContent.trim().slice(0, 40) + '"'); break; }
      }
    }
  }
  return [...new Set(out)];
}"""

SCREENS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2},
}


def layout_problems(page) -> list[str]:
    """One line per thing the page draws where it should not (module docstring)."""
    return page.evaluate(_PROBLEMS)


def on_every_screen(url: str):
    """(screen name, a page of ``url`` opened on that screen) for each of SCREENS, in one Chromium."""
    from playwright.sync_api import sync_playwright

    from tests.helpers import ARGS, CHROMIUM

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for name, screen in SCREENS.items():
                page = browser.new_context(**screen).new_page()
                page.goto(url)
                yield name, page
        finally:
            browser.close()
