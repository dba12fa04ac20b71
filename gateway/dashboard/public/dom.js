// Small DOM and formatting helpers shared by the panels.

/** `el('td', { class: 'num', 'data-testid': 'x' }, 'text', child)`; text is never parsed as HTML. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, String(value));
  }
  node.append(...children.filter((c) => c !== undefined && c !== null));
  return node;
}

/** Replaces the panel body (`[data-body]` inside the section with this test id). */
export function fill(testId, ...children) {
  const body = document.querySelector(`[data-testid="${testId}"] [data-body]`);
  body.replaceChildren(...children);
}

export function price(value) {
  if (value === null || value === undefined) return '–';
  const digits = Math.abs(value) >= 1000 ? 2 : Math.abs(value) >= 1 ? 3 : 5;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function number(value, digits = 2) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  // Rounds to zero: never "-0.000".
  if (Number(value.toFixed(digits)) === 0) value = 0;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function percent(value, digits = 1) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  const text = (value * 100).toFixed(digits);
  // Rounds to zero: never "-0.000%".
  return `${Number(text) === 0 ? (0).toFixed(digits) : text}%`;
}

/** Market times are UTC (a replay runs in its own past). */
export function time(iso) {
  return iso ? iso.slice(11, 16) : '–';
}

export function dateTime(iso) {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : '–';
}

/** Calls `fn` with the newest arguments at most once per animation frame. */
export function perFrame(fn) {
  let pending;
  return (...args) => {
    if (pending === undefined)
      requestAnimationFrame(() => {
        const latest = pending;
        pending = undefined;
        fn(...latest);
      });
    pending = args;
  };
}
