import { fmt } from '../redis/measure';

/** A horizontal bar chart of requests per second, hand-written SVG (no dependencies): the baseline first, then each scenario. */

export interface Bar {
  label: string;
  perSecond: number;
  /** Shown after the value, e.g. `0.21× baseline`. */
  note?: string;
  baseline?: boolean;
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function barChart(title: string, subtitle: string, bars: Bar[]): string {
  const [labelW, barW, valueW, rowH, top] = [330, 420, 190, 30, 64];
  const width = labelW + barW + valueW;
  const height = top + bars.length * rowH + 16;
  const max = Math.max(...bars.map((b) => b.perSecond), 1);
  const rows = bars.map((b, i) => {
    const y = top + i * rowH;
    const w = Math.max(1, Math.round((b.perSecond / max) * barW));
    const value = `${fmt(b.perSecond)} req/s${b.note ? ` · ${b.note}` : ''}`;
    return [
      `  <text x="${labelW - 10}" y="${y + 19}" text-anchor="end">${escape(b.label)}</text>`,
      `  <rect x="${labelW}" y="${y + 5}" width="${w}" height="${rowH - 10}" fill="${b.baseline ? '#9aa5b1' : '#3b6ea8'}"/>`,
      `  <text x="${labelW + w + 6}" y="${y + 19}">${escape(value)}</text>`,
    ].join('\n');
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `  <rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `  <text x="10" y="24" font-size="16" font-weight="bold">${escape(title)}</text>`,
    `  <text x="10" y="46" fill="#52606d">${escape(subtitle)}</text>`,
    ...rows,
    '</svg>',
  ].join('\n');
}
