"""The two small pieces of the participant's page that must run in the browser (Streamlit custom
components v2, inline in the page, no iframe):

- ``listening``: watches the trial's audio players and reports each play, pause, end, and the moment a
  clip has been heard for the study's minimum (media time actually played; seeks are not counted).
  Events carry a page id and a sequence number, so the server logs each exactly once.
- ``page_helper``: keeps the participant's browser key in localStorage (a reopened link in the same
  browser finds it; another browser has none), reports when it has none, and on a new question pauses
  every player and scrolls to the top.
"""

from __future__ import annotations

import streamlit as st

_LISTEN_JS = """
export default function (component) {
  const { data, setStateValue } = component;
  const reg = (window.__evalkitListen = window.__evalkitListen || {});
  const s = (reg[data.trial] = reg[data.trial] ||
    { page: Math.random().toString(36).slice(2, 10), seq: 0, played: {}, done: {}, events: [], seen: new WeakSet() });
  const round = (x) => Math.round(x * 100) / 100;
  const report = (clip, kind, el) => {
    s.seq += 1;
    s.events.push({ page: s.page, seq: s.seq, clip, kind, listened_s: round(s.played[clip]), position_s: round(el.currentTime) });
    setStateValue("log", { events: s.events.slice(-40) });
  };
  const attach = () => {
    for (const clip of data.clips) {
      const el = document.querySelector(`.st-key-${data.prefix}-${clip} audio`);
      if (!el || s.seen.has(el)) continue;
      s.seen.add(el);
      s.played[clip] = s.played[clip] || 0;
      let last = null;
      el.addEventListener("play", () => { last = el.currentTime; report(clip, "play", el); });
      el.addEventListener("seeking", () => { last = null; });
      el.addEventListener("timeupdate", () => {
        if (el.paused) return;
        if (last === null) { last = el.currentTime; return; }
        const d = el.currentTime - last;
        last = el.currentTime;
        if (d > 0 && d < 2.0) s.played[clip] += d;  // a longer jump is a seek (a busy tab can space timeupdates ~1 s)
        const need = Math.min(data.min_s, Math.max(0.5, (el.duration || data.min_s) - 0.3));
        if (!s.done[clip] && s.played[clip] >= need) { s.done[clip] = true; report(clip, "listened", el); }
      });
      el.addEventListener("pause", () => { if (!el.ended) report(clip, "pause", el); last = null; });
      el.addEventListener("ended", () => {
        if (!s.done[clip]) { s.done[clip] = true; report(clip, "listened", el); }
        report(clip, "ended", el); last = null;
      });
      // A player started before these listeners were attached (a fast click on a freshly rendered page) still
      // counts as a play: without this its "play" is lost while the listened time is counted.
      if (!el.paused) { last = el.currentTime; report(clip, "play", el); }
    }
  };
  attach();
  const timer = setInterval(attach, 100);
  return () => clearInterval(timer);
}
"""

_HELPER_JS = """
export default function (component) {
  const { data, setStateValue } = component;
  if (data.store_key) localStorage.setItem(data.slot, data.store_key);
  if (data.restore) {
    const k = localStorage.getItem(data.slot);
    const url = new URL(window.location.href);
    if (k && url.searchParams.get("k") !== k) { url.searchParams.set("k", k); window.location.replace(url.toString()); return; }
    setStateValue("missing", true);
  }
  if (data.watch && !window.__evalkitWatch) {
    // Mounted once, outside the question: when a new question is shown (its mix player's container names the
    // trial), pause every player and scroll to the top, in the frame that shows it. Being outside the question,
    // the helper is not redrawn with every question (benchmarks/study_browser.py).
    window.__evalkitWatch = true;
    let shown = null;
    const toTop = () => {
      document.querySelectorAll("audio").forEach((a) => a.pause());
      const scrollers = [document.scrollingElement, ...document.querySelectorAll(
        '[data-testid="stAppViewContainer"], [data-testid="stMain"], [data-testid="stMainBlockContainer"], section.main')];
      for (const el of scrollers) if (el) el.scrollTop = 0;
      window.scrollTo(0, 0);
    };
    const check = () => {
      const mix = document.querySelector('[class*="st-key-clip-"][class*="-mix"]');
      const trial = mix && [...mix.classList].find((c) => c.startsWith("st-key-clip-"));
      if (trial && trial !== shown) { shown = trial; requestAnimationFrame(toTop); }
    };
    new MutationObserver(check).observe(document.body, { subtree: true, childList: true });
    check();
  }
}
"""

_listening = st.components.v2.component("evalkit_listening", js=_LISTEN_JS)
_helper = st.components.v2.component("evalkit_page_helper", js=_HELPER_JS)


def listening(trial_id: str, prefix: str, clips: list[str], min_s: float) -> list[dict]:
    """Mount the tracker for this trial's clips; returns the events the browser has reported so far."""
    result = _listening(key=f"listen-{trial_id}", data={"trial": trial_id, "prefix": prefix, "clips": clips, "min_s": min_s},
                        on_log_change=lambda: None)
    log = getattr(result, "log", None) or {}
    return list(log.get("events", [])) if isinstance(log, dict) else []


def page_helper(slot: str, *, store_key: str | None = None, restore: bool = False, watch: bool = False, key: str = "helper") -> bool:
    """Keep/restore the browser key, and (``watch``) scroll to the top whenever a new question is shown; True if the
    browser has no key."""
    result = _helper(key=key, data={"slot": slot, "store_key": store_key, "restore": restore, "watch": watch},
                     on_missing_change=lambda: None)
    return bool(getattr(result, "missing", False))
