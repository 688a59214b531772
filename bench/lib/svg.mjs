/**
 * Hand-written SVG charts: panels of horizontal bars (two panels a line, each panel on its own scale), and a
 * line over time with a band around a baseline (the memory soak).
 */

const PANEL_WIDTH = 660;
const LABEL_WIDTH = 320;
const BAR_HEIGHT = 16;
const BAR_GAP = 6;
const PANEL_HEAD = 34;
const MARGIN = 20;

const xml = (text) => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/**
 * @param {object} chart
 * @param {string} chart.title
 * @param {string} chart.subtitle
 * @param {{title: string, format: (v: number) => string, bars: {label: string, color: string, value: number | undefined}[]}[]} chart.panels
 * @param {{label: string, color: string}[]} chart.legend
 */
export function barChart({ title, subtitle, panels, legend }) {
  const columns = 2;
  const width = columns * PANEL_WIDTH + (columns + 1) * MARGIN;
  const top = 78;
  const parts = [
    `<text x="${MARGIN}" y="28" font-size="18" font-weight="bold">${xml(title)}</text>`,
    `<text x="${MARGIN}" y="48" fill="#555">${xml(subtitle)}</text>`,
  ];
  let legendX = MARGIN;
  for (const item of legend) {
    parts.push(`<rect x="${legendX}" y="58" width="12" height="12" fill="${item.color}"/>`);
    parts.push(`<text x="${legendX + 17}" y="68">${xml(item.label)}</text>`);
    legendX += 30 + item.label.length * 7;
  }
  // Panels side by side share a line; the line is as tall as its taller panel.
  let y = top;
  for (let first = 0; first < panels.length; first += columns) {
    const line = panels.slice(first, first + columns);
    line.forEach((p, i) => {
      parts.push(panel(p, MARGIN + i * (PANEL_WIDTH + MARGIN), y));
    });
    y += Math.max(...line.map((p) => panelHeight(p)));
  }
  const height = y + MARGIN;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}

const panelHeight = (p) => PANEL_HEAD + p.bars.length * (BAR_HEIGHT + BAR_GAP) + MARGIN;

function panel({ title, format, bars }, x, y) {
  const values = bars.map((bar) => bar.value);
  const max = Math.max(...values.filter((v) => v !== undefined && Number.isFinite(v)), 0) || 1;
  const barSpace = PANEL_WIDTH - LABEL_WIDTH - 70;
  const parts = [`<g transform="translate(${x},${y})">`, `<text x="0" y="20" font-size="14" font-weight="bold">${xml(title)}</text>`];
  bars.forEach((bar, i) => {
    const value = values[i];
    const barY = PANEL_HEAD + i * (BAR_HEIGHT + BAR_GAP);
    const textY = barY + BAR_HEIGHT - 4;
    parts.push(`<text x="${LABEL_WIDTH - 8}" y="${textY}" text-anchor="end">${xml(bar.label)}</text>`);
    if (value === undefined || !Number.isFinite(value)) {
      parts.push(`<text x="${LABEL_WIDTH}" y="${textY}" fill="#999">n/a</text>`);
      return;
    }
    const barWidth = Math.max(1, (value / max) * barSpace);
    parts.push(`<rect x="${LABEL_WIDTH}" y="${barY}" width="${barWidth.toFixed(1)}" height="${BAR_HEIGHT}" fill="${bar.color}"/>`);
    parts.push(`<text x="${(LABEL_WIDTH + barWidth + 5).toFixed(1)}" y="${textY}">${xml(format(value))}</text>`);
  });
  parts.push("</g>");
  return parts.join("\n");
}

/**
 * A line over time with a band (baseline ± band) and the part before t = 0 shaded (a warm-up).
 * @param {{title: string, subtitle: string, points: {t: number, v: number}[], baseline: number, band: number,
 *   xLabel: string, yLabel: string}} chart
 */
export function bandChart({ title, subtitle, points, baseline, band, xLabel, yLabel }) {
  const width = 720;
  const height = 320;
  const left = 60;
  const right = 20;
  const top = 50;
  const bottom = 40;
  const tMin = Math.min(0, ...points.map((p) => p.t));
  const tMax = Math.max(1, ...points.map((p) => p.t));
  const vMin = Math.min(baseline - band * 1.5, ...points.map((p) => p.v));
  const vMax = Math.max(baseline + band * 1.5, ...points.map((p) => p.v));
  const x = (t) => left + ((t - tMin) / (tMax - tMin)) * (width - left - right);
  const y = (v) => top + (1 - (v - vMin) / (vMax - vMin)) * (height - top - bottom);
  const middle = top + (height - top - bottom) / 2;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="22" font-size="15" font-weight="bold">${xml(title)}</text>`,
    `<text x="${left}" y="40" fill="#555">${xml(subtitle)}</text>`,
    `<rect x="${x(tMin).toFixed(1)}" y="${top}" width="${(x(0) - x(tMin)).toFixed(1)}" height="${height - top - bottom}" fill="#f0f0f0"/>`,
    `<rect x="${x(0).toFixed(1)}" y="${y(baseline + band).toFixed(1)}" width="${(x(tMax) - x(0)).toFixed(1)}" height="${(y(baseline - band) - y(baseline + band)).toFixed(1)}" fill="#e3f0e3"/>`,
    `<line x1="${x(0).toFixed(1)}" x2="${x(tMax).toFixed(1)}" y1="${y(baseline).toFixed(1)}" y2="${y(baseline).toFixed(1)}" stroke="#5a9e5a" stroke-dasharray="4 3"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = vMin + ((vMax - vMin) * i) / 4;
    parts.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#555">${v.toFixed(0)}</text>`);
  }
  // Ticks on round seconds: the smallest step that gives at most 8 of them.
  const step = [5, 10, 20, 30, 60, 120, 300, 600].find((s) => (tMax - tMin) / s <= 8) ?? 1200;
  for (let t = Math.ceil(tMin / step) * step; t <= tMax; t += step) {
    parts.push(`<text x="${x(t).toFixed(1)}" y="${height - bottom + 16}" text-anchor="middle" fill="#555">${t}</text>`);
  }
  parts.push(
    `<text x="${width - right}" y="${height - 6}" text-anchor="end" fill="#555">${xml(xLabel)}</text>`,
    `<text x="14" y="${middle}" transform="rotate(-90 14 ${middle})" text-anchor="middle" fill="#555">${xml(yLabel)}</text>`,
    `<polyline fill="none" stroke="#e07b39" stroke-width="2" points="${points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ")}"/>`,
    ...points.map((p) => `<circle cx="${x(p.t).toFixed(1)}" cy="${y(p.v).toFixed(1)}" r="2.5" fill="#e07b39"/>`),
    "</svg>",
    "",
  );
  return parts.join("\n");
}
