/**
 * A hand-written SVG bar chart: panels of horizontal bars, two panels a line, each panel on its own scale.
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
