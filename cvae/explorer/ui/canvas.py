"""A small drawing canvas (Custom Components v2, inline HTML/JS, no network): draw with mouse, pen or finger;
on each stroke's end the canvas is sent to Python as a PNG data URL in the state value `image`."""

from __future__ import annotations

import base64

import streamlit as st

from ..i18n import _
from . import component_state

SIZE = 280  # CSS pixels; drawn 10x the model's 28
MAX_DATA_URL = 2_000_000  # characters: a 280x280 PNG is a few kB

HTML = f"""
<div class="cv-wrap">
  <canvas class="cv-pad" width="{SIZE}" height="{SIZE}" aria-label="drawing canvas"></canvas>
  <button class="cv-clear" type="button">Clear</button>
</div>
"""

CSS = f"""
.cv-wrap {{ display: flex; flex-direction: column; gap: 6px; align-items: flex-start; }}
.cv-pad {{ width: {SIZE}px; height: {SIZE}px; max-width: 100%; background: var(--st-background-color, #fff);
          border: 2px solid #888; border-radius: 6px; touch-action: none; cursor: crosshair; }}
.cv-clear {{ font-size: 16px; padding: 4px 14px; color: var(--st-text-color, #222);
            background: var(--st-secondary-background-color, #f0f2f6); border: 1px solid #888; border-radius: 6px; }}
"""

JS = """
export default function(component) {
  const { parentElement, setStateValue, data } = component;
  const canvas = parentElement.querySelector('.cv-pad');
  const clear = parentElement.querySelector('.cv-clear');
  if (data && data.clear && clear) { clear.textContent = data.clear; }  // the page's language
  if (data && data.label && canvas) { canvas.setAttribute('aria-label', data.label); }
  if (!canvas || canvas.dataset.ready) { return; }
  canvas.dataset.ready = '1';
  const ctx = canvas.getContext('2d');
  // Streamlit's theme: a dark app draws white ink on black (MNIST's own look; the preprocessing then skips the
  // inversion), a light app black ink on white. Fixed at the first paint: a drawing never changes colour midway.
  const bg = (getComputedStyle(canvas).getPropertyValue('--st-background-color') || '').trim();
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})/i.exec(bg);
  const dark = !!m && 0.299 * parseInt(m[1], 16) + 0.587 * parseInt(m[2], 16) + 0.114 * parseInt(m[3], 16) < 128;
  const blank = () => { ctx.fillStyle = dark ? '#000' : '#fff'; ctx.fillRect(0, 0, canvas.width, canvas.height); };
  blank();
  ctx.lineWidth = 22; ctx.lineCap = 'round'; ctx.lineJoin = 'round'; ctx.strokeStyle = dark ? '#fff' : '#000';
  let drawing = false;
  const pos = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
  };
  canvas.addEventListener('pointerdown', (e) => {
    drawing = true; canvas.setPointerCapture(e.pointerId);
    const [x, y] = pos(e); ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + 0.01, y); ctx.stroke();
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!drawing) { return; }
    const [x, y] = pos(e); ctx.lineTo(x, y); ctx.stroke();
  });
  const end = () => {
    if (!drawing) { return; }
    drawing = false;
    setStateValue('image', canvas.toDataURL('image/png'));
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  parentElement.querySelector('.cv-clear').addEventListener('click', () => {
    blank(); setStateValue('image', '');
  });
}
"""

component_state.install()  # the browser's state is parsed with a nesting limit
_canvas = st.components.v2.component("cvae_draw_canvas", html=HTML, css=CSS, js=JS)


def canvas_ui(key: str) -> bytes | None:
    """The canvas; the PNG bytes of the drawing so far (None before the first stroke or after Clear)."""
    labels = {"clear": _("Clear"), "label": _("drawing canvas")}
    result = _canvas(key=key, data=labels, default={"image": ""}, on_image_change=lambda: None, height=SIZE + 50)
    return png_from_data_url(getattr(result, "image", "") or "")


def png_from_data_url(url: str) -> bytes | None:
    """Bytes of a 'data:image/png;base64,…' URL; None for anything else (the canvas state is browser input)."""
    prefix = "data:image/png;base64,"
    if not isinstance(url, str) or not url.startswith(prefix) or len(url) > MAX_DATA_URL:
        return None
    try:
        return base64.b64decode(url[len(prefix):], validate=True)
    except ValueError:
        return None
