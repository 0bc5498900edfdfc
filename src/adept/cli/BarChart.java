package adept.cli;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Locale;
import java.util.Set;
import javax.imageio.ImageIO;

/**
 * A plain bar chart drawn with Java2D, headless: one bar per index (layer), values may be negative
 * (bars below the zero line), some bars highlighted. Used for the layer-importance plot.
 */
public final class BarChart {
    static {
        // Must be set before the first AWT class initialises; the CLI never opens a window.
        System.setProperty("java.awt.headless", "true");
    }

    private static final Color BAR = new Color(0x4C78A8);
    private static final Color HIGHLIGHT = new Color(0xE45756);
    private static final Color HIGHLIGHT_BAND = new Color(0xFBE3E3);
    private static final Color GRID = new Color(0, 0, 0, 28);
    private static final Color AXIS = new Color(0x333333);
    private static final Color TEXT = new Color(0x222222);
    private static final Color SUBTLE = new Color(0x666666);

    private final String title;
    private final String subtitle;
    private final String xLabel;
    private final String yLabel;
    private final double[] values;
    private final Set<Integer> highlighted;
    private final String highlightLegend;
    private final String barLegend;
    private int width = 1000;
    private int height = 500;

    public BarChart(String title, String subtitle, String xLabel, String yLabel, double[] values, Set<Integer> highlighted,
                    String barLegend, String highlightLegend) {
        this.title = title;
        this.subtitle = subtitle;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
        this.values = values.clone();
        this.highlighted = Set.copyOf(highlighted);
        this.barLegend = barLegend;
        this.highlightLegend = highlightLegend;
    }

    public BarChart size(int width, int height) {
        this.width = width;
        this.height = height;
        return this;
    }

    public BufferedImage render() {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_FRACTIONALMETRICS, RenderingHints.VALUE_FRACTIONALMETRICS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);
            draw(g);
        } finally {
            g.dispose();
        }
        return image;
    }

    public byte[] png() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (!ImageIO.write(render(), "png", out)) throw new IOException("no PNG writer available");
        return out.toByteArray();
    }

    private void draw(Graphics2D g) {
        Font titleFont = new Font(Font.SANS_SERIF, Font.BOLD, 18);
        Font subtitleFont = new Font(Font.SANS_SERIF, Font.PLAIN, 13);
        Font labelFont = new Font(Font.SANS_SERIF, Font.PLAIN, 14);
        Font tickFont = new Font(Font.SANS_SERIF, Font.PLAIN, 12);

        int left = 90;
        int right = 30;
        int top = 78;
        int bottom = 62;
        int plotW = width - left - right;
        int plotH = height - top - bottom;

        // Title and subtitle, centred.
        g.setColor(TEXT);
        g.setFont(titleFont);
        centred(g, title, width / 2, 30);
        if (subtitle != null && !subtitle.isEmpty()) {
            g.setFont(subtitleFont);
            g.setColor(SUBTLE);
            centred(g, subtitle, width / 2, 52);
        }

        // Y range: always include 0, padded by 6% of the span; ticks at "nice" multiples inside it.
        double min = 0;
        double max = 0;
        for (double v : values) {
            if (Double.isFinite(v)) {
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
        }
        if (max == min) max = min + 1;
        double span = max - min;
        double step = niceStep(span / 6);
        double lo = min < 0 ? min - span * 0.06 : 0;
        double hi = max > 0 ? max + span * 0.06 : 0;
        final double yLo = lo;
        final double yHi = hi;
        java.util.function.DoubleToIntFunction y = v -> top + (int) Math.round((yHi - v) / (yHi - yLo) * plotH);

        // Highlight bands behind each highlighted bar (so one near zero still shows), then grid and y ticks.
        int n = values.length;
        double slot = (double) plotW / Math.max(1, n);
        g.setColor(HIGHLIGHT_BAND);
        for (int i : highlighted) {
            if (i >= 0 && i < n) g.fillRect(left + (int) Math.round(i * slot), top, Math.max(1, (int) Math.round((i + 1) * slot) - (int) Math.round(i * slot)), plotH);
        }
        g.setFont(tickFont);
        FontMetrics fm = g.getFontMetrics();
        int decimals = decimals(step);
        for (double t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-6; t += step) {
            int py = y.applyAsInt(t);
            g.setColor(GRID);  // translucent over the bands
            g.setStroke(new BasicStroke(1f));
            g.drawLine(left, py, left + plotW, py);
            g.setColor(TEXT);
            String label = String.format(Locale.ROOT, "%." + decimals + "f", Math.abs(t) < step * 1e-6 ? 0.0 : t);
            g.drawString(label, left - 8 - fm.stringWidth(label), py + fm.getAscent() / 2 - 1);
        }

        // Bars.
        double barW = Math.max(1, slot * 0.72);
        int zero = y.applyAsInt(0);
        java.util.List<java.awt.Rectangle> barRects = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) {
            double v = values[i];
            if (!Double.isFinite(v)) continue;
            int x = left + (int) Math.round(i * slot + (slot - barW) / 2);
            int py = y.applyAsInt(v);
            int top0 = Math.min(py, zero);
            int h = Math.max(1, Math.abs(py - zero));
            g.setColor(highlighted.contains(i) ? HIGHLIGHT : BAR);
            java.awt.Rectangle rect = new java.awt.Rectangle(x, top0, (int) Math.round(barW), h);
            g.fill(rect);
            barRects.add(rect);
        }

        // Axes: zero line (bold) and the left spine.
        g.setColor(AXIS);
        g.setStroke(new BasicStroke(1.5f));
        g.drawLine(left, zero, left + plotW, zero);
        g.setStroke(new BasicStroke(1f));
        g.drawLine(left, top, left, top + plotH);

        // X ticks: every layer when they fit, else every 2nd, 5th, 10th...
        int every = 1;
        int widest = fm.stringWidth(Integer.toString(Math.max(0, n - 1))) + 6;
        for (int candidate : new int[] {1, 2, 5, 10, 20, 50, 100}) {
            every = candidate;
            if (slot * candidate >= widest) break;
        }
        g.setColor(TEXT);
        for (int i = 0; i < n; i++) {
            if (i % every != 0 && !highlighted.contains(i)) continue;
            if (i % every != 0 && slot < widest) continue;
            int cx = left + (int) Math.round((i + 0.5) * slot);
            String label = Integer.toString(i);
            g.setColor(AXIS);
            g.drawLine(cx, top + plotH, cx, top + plotH + 4);
            g.setColor(highlighted.contains(i) ? HIGHLIGHT.darker() : TEXT);
            g.drawString(label, cx - fm.stringWidth(label) / 2, top + plotH + 6 + fm.getAscent());
        }
        g.setColor(AXIS);
        g.drawLine(left, top + plotH, left + plotW, top + plotH);

        // Axis labels.
        g.setFont(labelFont);
        g.setColor(TEXT);
        centred(g, xLabel, left + plotW / 2, height - 16);
        AffineTransform saved = g.getTransform();
        g.rotate(-Math.PI / 2);
        FontMetrics lm = g.getFontMetrics();
        g.drawString(yLabel, -(top + plotH / 2) - lm.stringWidth(yLabel) / 2, 22);
        g.setTransform(saved);

        // Legend inside the plot: top right, else the first corner no bar reaches.
        g.setFont(tickFont);
        String[] texts = highlighted.isEmpty() ? new String[] {barLegend} : new String[] {barLegend, highlightLegend};
        Color[] colors = highlighted.isEmpty() ? new Color[] {BAR} : new Color[] {BAR, HIGHLIGHT};
        int boxW = 0;
        for (String t : texts) boxW = Math.max(boxW, fm.stringWidth(t));
        boxW += 36;
        int boxH = texts.length * 20 + 8;
        int[][] corners = {{left + plotW - 10 - boxW, top + 8}, {left + 10, top + 8}, {left + plotW - 10 - boxW, top + plotH - 8 - boxH},
                {left + 10, top + plotH - 8 - boxH}};
        int[] at = corners[0];
        for (int[] c : corners) {
            java.awt.Rectangle box = new java.awt.Rectangle(c[0] - 4, c[1] - 4, boxW + 8, boxH + 8);
            if (barRects.stream().noneMatch(box::intersects) && !box.intersects(new java.awt.Rectangle(left, zero - 1, plotW, 3))) {
                at = c;
                break;
            }
        }
        int bx = at[0];
        int by = at[1];
        g.setColor(new Color(255, 255, 255, 235));
        g.fillRect(bx, by, boxW, boxH);
        g.setColor(new Color(0xBBBBBB));
        g.drawRect(bx, by, boxW, boxH);
        for (int i = 0; i < texts.length; i++) {
            int ry = by + 8 + i * 20;
            g.setColor(colors[i]);
            g.fillRect(bx + 8, ry + 2, 14, 12);
            g.setColor(TEXT);
            g.drawString(texts[i], bx + 28, ry + 13);
        }
    }

    private static void centred(Graphics2D g, String text, int cx, int baseline) {
        g.drawString(text, cx - g.getFontMetrics().stringWidth(text) / 2, baseline);
    }

    /** The fewest decimals that print step (and so every tick, a multiple of it) exactly. */
    static int decimals(double step) {
        for (int d = 0; d < 10; d++) {
            double scaled = step * Math.pow(10, d);
            if (Math.abs(scaled - Math.rint(scaled)) < 1e-6 * Math.max(1, scaled)) return d;
        }
        return 10;
    }

    /** 1, 2, 2.5 or 5 times a power of ten, at least raw. */
    static double niceStep(double raw) {
        if (!(raw > 0)) return 1;
        double p = Math.pow(10, Math.floor(Math.log10(raw)));
        for (double m : new double[] {1, 2, 2.5, 5, 10}) if (m * p >= raw) return m * p;
        return 10 * p;
    }
}
