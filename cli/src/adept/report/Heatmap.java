package adept.report;

import java.awt.Color;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.Paint;
import java.awt.RenderingHints;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.math.BigDecimal;
import java.text.FieldPosition;
import java.text.NumberFormat;
import java.text.ParsePosition;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;
import java.util.function.DoublePredicate;
import org.jfree.chart.ChartRenderingInfo;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.AxisLocation;
import org.jfree.chart.axis.AxisSpace;
import org.jfree.chart.axis.AxisState;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.NumberTick;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.axis.TickUnits;
import org.jfree.chart.axis.ValueTick;
import org.jfree.chart.block.BlockBorder;
import org.jfree.chart.block.RectangleConstraint;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.PaintScale;
import org.jfree.chart.renderer.xy.XYBlockRenderer;
import org.jfree.chart.title.PaintScaleLegend;
import org.jfree.chart.title.TextTitle;
import org.jfree.chart.ui.RectangleEdge;
import org.jfree.chart.ui.RectangleInsets;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.xy.DefaultXYZDataset;

/**
 * Heatmaps of unit importance over trainable layers (rows) x units (columns), one panel per importance refresh,
 * stacked vertically in one image under one colour scale (viridis over all panels, linear or logarithmic) with a
 * colour bar. NaN marks a cell with no unit there and is drawn light grey; on a log scale a value of 0 (or below)
 * has no place on the bar and is drawn in its own neutral colour, with a key beside the bar.
 */
public final class Heatmap {
    static {
        Charts.init();
    }

    /** One panel: values[row][col]; every row has one value per column label. */
    public record Panel(String title, String[] rowLabels, String[] columnLabels, double[][] values) {
        public Panel {
            if (values.length != rowLabels.length) {
                throw new IllegalArgumentException("panel " + title + ": " + values.length + " rows of values, " + rowLabels.length + " row labels");
            }
            double[][] copy = new double[values.length][];
            for (int r = 0; r < values.length; r++) {
                if (values[r].length != columnLabels.length) {
                    throw new IllegalArgumentException("panel " + title + ": row " + r + " has " + values[r].length + " values, "
                            + columnLabels.length + " column labels");
                }
                copy[r] = values[r].clone();
            }
            rowLabels = rowLabels.clone();
            columnLabels = columnLabels.clone();
            values = copy;
        }
    }

    /** How values map to colours. */
    public enum Scale {
        /** min..max of the finite values. */
        LINEAR,
        /** log10 over the positive finite values (at most {@value Heatmap#MAX_DECADES} decades below the largest). */
        LOG
    }

    public static final int DEFAULT_WIDTH = 1200;

    static final Color NO_UNIT = new Color(0xD9D9D9);
    /** A log scale's 0: a neutral mid grey, away from viridis' hues and from the light grey of NO_UNIT. */
    static final Color ZERO = new Color(0x8A8A8A);
    /** A log scale spans at most this many decades; smaller positive values take its darkest colour. */
    static final int MAX_DECADES = 10;

    private static final int TITLE_BAND = 40;
    private static final int LEGEND_BAND = 78;
    private static final int ROW_PIXELS = 26;
    private static final int PANEL_OVERHEAD = 62;  // panel title and column tick labels (side by side)

    private Heatmap() {}

    /** The panels at {@link #DEFAULT_WIDTH}, each row {@value #ROW_PIXELS} pixels tall, on a linear scale. */
    public static byte[] png(String title, List<Panel> panels, String valueLabel) {
        return png(title, panels, valueLabel, Scale.LINEAR);
    }

    /** The panels at {@link #DEFAULT_WIDTH}, each row {@value #ROW_PIXELS} pixels tall. */
    public static byte[] png(String title, List<Panel> panels, String valueLabel, Scale scale) {
        return Charts.png(image(title, panels, valueLabel, scale));
    }

    /** The panels as one PNG, on a linear scale. */
    public static byte[] png(String title, List<Panel> panels, String valueLabel, int width, int height) {
        return Charts.png(render(title, panels, valueLabel, Scale.LINEAR, width, height).image());
    }

    /** The panels drawn at {@link #DEFAULT_WIDTH} and their natural height (to stack with other charts). */
    public static BufferedImage image(String title, List<Panel> panels, String valueLabel, Scale scale) {
        return render(title, panels, valueLabel, scale, DEFAULT_WIDTH, naturalHeight(panels)).image();
    }

    static int naturalHeight(List<Panel> panels) {
        Layout layout = Layout.of(panels, DEFAULT_WIDTH);
        int h = TITLE_BAND + LEGEND_BAND;
        for (Panel p : panels) h += (int) Math.ceil(layout.weight(p));
        return h;
    }

    /**
     * What the panels share: the row axis' width (so the cell areas line up under one colour bar) and whether the
     * column labels stand upright (when they do not all fit side by side), then needing band more pixels each.
     */
    private record Layout(int left, boolean vertical, int band) {
        static Layout of(List<Panel> panels, int width) {
            BufferedImage scratch = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = scratch.createGraphics();
            try {
                g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
                FontMetrics fm = g.getFontMetrics(Charts.TICK);
                int widestRow = 0;
                int widestColumn = 0;
                int columns = 1;
                for (Panel p : panels) {
                    for (String label : p.rowLabels()) widestRow = Math.max(widestRow, fm.stringWidth(label));
                    for (String label : p.columnLabels()) widestColumn = Math.max(widestColumn, fm.stringWidth(label));
                    columns = Math.max(columns, p.columnLabels().length);
                }
                int left = widestRow + 14;
                double cell = (width - left - 24.0) / columns;  // 24: the panel's side padding
                boolean vertical = widestColumn + 10 > cell;
                return new Layout(left, vertical, vertical ? Math.max(0, widestColumn - fm.getHeight()) : 0);
            } finally {
                g.dispose();
            }
        }

        /** The panel's share of the height. */
        double weight(Panel p) {
            return PANEL_OVERHEAD + band + ROW_PIXELS * Math.max(1, p.rowLabels().length);
        }
    }

    /** The image, and each panel's cell area in it (for tests that sample cells). */
    record Rendered(BufferedImage image, List<Rectangle2D> cellAreas) {}

    static Rendered render(String title, List<Panel> panels, String valueLabel, int width, int height) {
        return render(title, panels, valueLabel, Scale.LINEAR, width, height);
    }

    static Rendered render(String title, List<Panel> panels, String valueLabel, Scale kind, int width, int height) {
        if (panels.isEmpty()) throw new IllegalArgumentException("no heatmap panels");
        Charts.checkSize(width, height);
        Viridis scale = Viridis.over(panels, kind);
        int columns = 1;
        for (Panel p : panels) columns = Math.max(columns, p.columnLabels().length);

        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        List<Rectangle2D> areas = new ArrayList<>();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);

            TextTitle heading = new TextTitle(title == null ? "" : title, Charts.TITLE);
            heading.setPaint(Charts.TEXT);
            heading.arrange(g, RectangleConstraint.NONE.toFixedWidth(width));  // a title lays out its text only here
            heading.draw(g, new Rectangle2D.Double(0, 6, width, TITLE_BAND - 6));

            FontMetrics fm = g.getFontMetrics(Charts.TICK);
            Layout layout = Layout.of(panels, width);
            AxisSpace left = new AxisSpace();
            left.setLeft(layout.left());

            double weightSum = 0;
            for (Panel p : panels) weightSum += layout.weight(p);
            double y = TITLE_BAND;
            double available = Math.max(1, height - TITLE_BAND - LEGEND_BAND);
            for (Panel p : panels) {
                double h = available * layout.weight(p) / weightSum;
                JFreeChart chart = panelChart(p, columns, scale, left, layout.vertical());
                ChartRenderingInfo info = new ChartRenderingInfo();
                chart.draw(g, new Rectangle2D.Double(0, y, width, h), info);
                areas.add(info.getPlotInfo().getDataArea().getBounds2D());
                y += h;
            }

            Rectangle2D cells = areas.getFirst();
            List<Swatch> key = new ArrayList<>();
            if (scale.log() && has(panels, v -> v <= 0)) key.add(new Swatch(ZERO, "0 (off the log scale)"));
            if (has(panels, Double::isNaN)) key.add(new Swatch(NO_UNIT, "no unit"));
            int keyWidth = 0;
            for (Swatch k : key) keyWidth = Math.max(keyWidth, KEY_BOX + 8 + fm.stringWidth(k.label()) + 24);
            double barWidth = Math.max(40, cells.getWidth() - keyWidth);
            PaintScaleLegend bar = legend(scale, valueLabel);
            bar.draw(g, new Rectangle2D.Double(cells.getMinX(), height - LEGEND_BAND, barWidth, LEGEND_BAND - 6));
            drawKey(g, key, cells.getMinX() + barWidth + 24, height - LEGEND_BAND + 8);
        } finally {
            g.dispose();
        }
        return new Rendered(image, areas);
    }

    private static JFreeChart panelChart(Panel p, int columns, PaintScale scale, AxisSpace left, boolean verticalColumnLabels) {
        int rows = p.rowLabels().length;
        DefaultXYZDataset data = new DefaultXYZDataset();
        int n = rows * p.columnLabels().length;
        double[][] xyz = new double[3][n];
        int i = 0;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < p.columnLabels().length; c++, i++) {
                xyz[0][i] = c;
                xyz[1][i] = r;
                xyz[2][i] = p.values()[r][c];
            }
        }
        data.addSeries("cells", xyz);

        XYBlockRenderer renderer = new XYBlockRenderer();
        renderer.setPaintScale(scale);
        LabelAxis x = new LabelAxis(p.columnLabels());
        x.setVerticalTickLabels(verticalColumnLabels);
        x.setRange(-0.5, columns - 0.5);  // shared by all panels so their columns line up
        LabelAxis rowAxis = new LabelAxis(p.rowLabels());
        rowAxis.setRange(-0.5, Math.max(1, rows) - 0.5);
        rowAxis.setInverted(true);  // first row on top, as in a table

        XYPlot plot = new XYPlot(data, x, rowAxis, renderer);
        Charts.style(plot);
        plot.setDomainGridlinesVisible(false);
        plot.setRangeGridlinesVisible(false);
        plot.setAxisOffset(RectangleInsets.ZERO_INSETS);
        plot.setFixedRangeAxisSpace(left);
        JFreeChart chart = new JFreeChart(p.title(), Charts.PANEL_TITLE, plot, false);
        chart.setBackgroundPaint(Color.WHITE);
        chart.setPadding(new RectangleInsets(4, 8, 2, 16));
        if (chart.getTitle() != null) chart.getTitle().setPaint(Charts.TEXT);
        // Thin cells must not blend into their neighbours or leave seams.
        chart.setAntiAlias(false);
        chart.setTextAntiAlias(true);
        return chart;
    }

    private static boolean has(List<Panel> panels, DoublePredicate test) {
        for (Panel p : panels) for (double[] row : p.values()) for (double v : row) if (test.test(v)) return true;
        return false;
    }

    /** A colour outside the bar and what it means. */
    private record Swatch(Color colour, String label) {}

    private static final int KEY_BOX = 14;

    private static void drawKey(Graphics2D g, List<Swatch> key, double x, double y) {
        g.setFont(Charts.TICK);
        FontMetrics fm = g.getFontMetrics();
        for (Swatch k : key) {
            g.setColor(k.colour());
            g.fillRect((int) x, (int) y, KEY_BOX, KEY_BOX);
            g.setColor(Charts.SUBTLE);
            g.drawRect((int) x, (int) y, KEY_BOX, KEY_BOX);
            g.setColor(Charts.TEXT);
            g.drawString(k.label(), (int) x + KEY_BOX + 8, (int) y + (KEY_BOX + fm.getAscent() - fm.getDescent()) / 2);
            y += KEY_BOX + 10;
        }
    }

    private static PaintScaleLegend legend(Viridis scale, String valueLabel) {
        NumberAxis axis = new NumberAxis(valueLabel);
        PaintScale strip = scale;
        if (scale.log()) {
            // The legend strip steps evenly through its axis' values, so a log bar runs on log10 of the value.
            strip = new Exponents(scale);
            axis.setNumberFormatOverride(new PowerOfTen());
            if (strip.getUpperBound() - strip.getLowerBound() >= 1) {
                TickUnits decades = new TickUnits();
                for (int d : new int[] {1, 2, 5, 10}) decades.add(new NumberTickUnit(d));
                axis.setStandardTickUnits(decades);  // whole decades only: 1e-5, 1e-4, ...
            }
        }
        axis.setRange(strip.getLowerBound(), strip.getUpperBound());
        axis.setLabelFont(Charts.LABEL);
        axis.setLabelPaint(Charts.TEXT);
        axis.setTickLabelFont(Charts.TICK);
        axis.setTickLabelPaint(Charts.TEXT);
        PaintScaleLegend legend = new PaintScaleLegend(strip, axis);
        legend.setPosition(RectangleEdge.BOTTOM);
        legend.setAxisLocation(AxisLocation.BOTTOM_OR_LEFT);
        legend.setStripWidth(14);
        legend.setSubdivisionCount(256);
        legend.setStripOutlineVisible(true);
        legend.setFrame(BlockBorder.NONE);
        legend.setMargin(new RectangleInsets(6, 0, 0, 0));
        legend.setBackgroundPaint(Color.WHITE);
        return legend;
    }

    private static final int[] STEPS = {1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000};

    /**
     * An index axis whose ticks read labels[index], thinned so labels never run into each other. The first cell of
     * each group of labels ("h0".."h13", then "kv0"..; a name without a number is its own group) is labelled first,
     * so every kind of unit keeps a label when there are too many to show all.
     */
    private static final class LabelAxis extends NumberAxis {
        private final String[] labels;

        LabelAxis(String[] labels) {
            super(null);
            this.labels = labels;
            setTickMarksVisible(true);
            setMinorTickMarksVisible(false);
            setTickLabelFont(Charts.TICK);
        }

        @Override
        public List<ValueTick> refreshTicks(Graphics2D g2, AxisState state, Rectangle2D dataArea, RectangleEdge edge) {
            FontMetrics fm = g2.getFontMetrics(getTickLabelFont());
            boolean horizontal = RectangleEdge.isTopOrBottom(edge);
            double cell = (horizontal ? dataArea.getWidth() : dataArea.getHeight()) / Math.max(1e-9, getRange().getLength());
            boolean upright = horizontal && isVerticalTickLabels();
            double[] extent = new double[labels.length];
            for (int i = 0; i < labels.length; i++) extent[i] = horizontal && !upright ? fm.stringWidth(labels[i]) + 10 : fm.getHeight() + 2;
            TextAnchor anchor;
            double angle = 0;
            if (upright) {  // read bottom to top, ending at the tick
                anchor = edge == RectangleEdge.TOP ? TextAnchor.CENTER_LEFT : TextAnchor.CENTER_RIGHT;
                angle = -Math.PI / 2;
            } else if (horizontal) {
                anchor = edge == RectangleEdge.TOP ? TextAnchor.BOTTOM_CENTER : TextAnchor.TOP_CENTER;
            } else {
                anchor = edge == RectangleEdge.LEFT ? TextAnchor.CENTER_RIGHT : TextAnchor.CENTER_LEFT;
            }
            List<ValueTick> ticks = new ArrayList<>();
            for (int i : tickIndices(labels, extent, cell)) ticks.add(new NumberTick((double) i, labels[i], anchor, upright ? anchor : TextAnchor.CENTER, angle));
            return ticks;
        }
    }

    /**
     * Which labels to show, ascending, when label i needs extent[i] pixels and cells are cell pixels apart: the
     * first of every group, then every k-th of each group (the smallest k of 1, 2, 5, 10, ... that fits the
     * widest), each only where it keeps clear of those already placed.
     */
    static List<Integer> tickIndices(String[] labels, double[] extent, double cell) {
        TreeSet<Integer> placed = new TreeSet<>();
        for (int i = 0; i < labels.length; i++) {
            if (i == 0 || !group(labels[i]).equals(group(labels[i - 1]))) place(i, placed, extent, cell);
        }
        double widest = 0;
        for (double e : extent) widest = Math.max(widest, e);
        int step = STEPS[STEPS.length - 1];
        for (int s : STEPS) {
            if (s * cell >= widest) {
                step = s;
                break;
            }
        }
        // counted from each group's start, so numbered units read n0, n100, n200 rather than n84, n184
        for (int start = 0; start < labels.length; ) {
            int end = start + 1;
            while (end < labels.length && group(labels[end]).equals(group(labels[start]))) end++;
            for (int i = start; i < end; i += step) place(i, placed, extent, cell);
            start = end;
        }
        return new ArrayList<>(placed);
    }

    /** Places tick i unless its label would touch a placed neighbour's. */
    private static void place(int i, TreeSet<Integer> placed, double[] extent, double cell) {
        Integer before = placed.floor(i);
        Integer after = placed.ceiling(i);
        if (before != null && (i - before) * cell < (extent[i] + extent[before]) / 2) return;
        if (after != null && (after - i) * cell < (extent[i] + extent[after]) / 2) return;
        placed.add(i);
    }

    /** A label without its trailing number: "kv3" -> "kv", "layer 5" -> "layer ", "gate" -> "gate". */
    static String group(String label) {
        int end = label.length();
        while (end > 0 && Character.isDigit(label.charAt(end - 1))) end--;
        return end == 0 ? label : label.substring(0, end);
    }

    /** A log scale seen on the exponent: x -> the colour of 10^x (for the colour bar). */
    private record Exponents(Viridis scale) implements PaintScale {
        @Override
        public double getLowerBound() {
            return Math.log10(scale.getLowerBound());
        }

        @Override
        public double getUpperBound() {
            return Math.log10(scale.getUpperBound());
        }

        @Override
        public Paint getPaint(double exponent) {
            return scale.getPaint(Math.pow(10, exponent));
        }
    }

    /** An exponent x written as the value 10^x: 0.01, 1, 1000, 1e-5, 1e6; between decades two significant digits. */
    static final class PowerOfTen extends NumberFormat {
        @Override
        public StringBuffer format(double exponent, StringBuffer out, FieldPosition pos) {
            long k = Math.round(exponent);
            if (Math.abs(exponent - k) < 1e-9) {
                return out.append(Math.abs(k) <= 3 ? BigDecimal.ONE.scaleByPowerOfTen((int) k).toPlainString() : "1e" + k);
            }
            return out.append(String.format(Locale.ROOT, "%.2g", Math.pow(10, exponent)));
        }

        @Override
        public StringBuffer format(long exponent, StringBuffer out, FieldPosition pos) {
            return format((double) exponent, out, pos);
        }

        @Override
        public Number parse(String source, ParsePosition pos) {
            throw new UnsupportedOperationException("format only");
        }
    }

    /**
     * Viridis, interpolated between its eleven published stops, clamped at the ends; NaN is {@link #NO_UNIT}. On a
     * log scale the position is log10(value) between log10(lower) and log10(upper), and values of 0 or below are
     * {@link #ZERO}.
     */
    static final class Viridis implements PaintScale {
        private static final int[] STOPS = {0x440154, 0x482475, 0x414487, 0x355F8D, 0x2A788E, 0x21918C, 0x22A884, 0x44BF70, 0x7AD151,
                0xBDDF26, 0xFDE725};
        private final double lower;
        private final double upper;
        private final boolean log;

        Viridis(double lower, double upper) {
            this(lower, upper, false);
        }

        Viridis(double lower, double upper, boolean log) {
            if (!(upper > lower)) throw new IllegalArgumentException(String.format(Locale.ROOT, "empty colour range %g..%g", lower, upper));
            if (log && !(lower > 0)) throw new IllegalArgumentException(String.format(Locale.ROOT, "log colour range from %g", lower));
            this.lower = lower;
            this.upper = upper;
            this.log = log;
        }

        static Viridis over(List<Panel> panels) {
            return over(panels, Scale.LINEAR);
        }

        /**
         * min..max of the finite values over all panels (on a log scale: of the positive ones, at most
         * {@link #MAX_DECADES} apart), widened when empty or a single value.
         */
        static Viridis over(List<Panel> panels, Scale scale) {
            boolean log = scale == Scale.LOG;
            double min = Double.POSITIVE_INFINITY;
            double max = Double.NEGATIVE_INFINITY;
            for (Panel p : panels) {
                for (double[] row : p.values()) {
                    for (double v : row) {
                        if (Double.isFinite(v) && (!log || v > 0)) {
                            min = Math.min(min, v);
                            max = Math.max(max, v);
                        }
                    }
                }
            }
            if (log) {
                if (min > max) return new Viridis(0.1, 1, true);
                if (min == max) return new Viridis(min / Math.sqrt(10), max * Math.sqrt(10), true);  // the value mid-bar
                return new Viridis(Math.max(min, max / Math.pow(10, MAX_DECADES)), max, true);
            }
            if (min > max) return new Viridis(0, 1);
            if (min == max) {
                double pad = min == 0 ? 0.5 : Math.abs(min) * 0.05;
                return new Viridis(min - pad, max + pad);
            }
            return new Viridis(min, max);
        }

        boolean log() {
            return log;
        }

        /** The colour a fraction t (0..1) along the scale. */
        static Color at(double t) {
            double at = Math.clamp(t, 0.0, 1.0) * (STOPS.length - 1);
            int i = Math.min((int) at, STOPS.length - 2);
            double f = at - i;
            return new Color(mix(STOPS[i] >> 16, STOPS[i + 1] >> 16, f), mix(STOPS[i] >> 8, STOPS[i + 1] >> 8, f), mix(STOPS[i], STOPS[i + 1], f));
        }

        @Override
        public double getLowerBound() {
            return lower;
        }

        @Override
        public double getUpperBound() {
            return upper;
        }

        @Override
        public Paint getPaint(double value) {
            if (Double.isNaN(value)) return NO_UNIT;
            if (log && !(value > 0)) return ZERO;
            return at(log ? (Math.log10(value) - Math.log10(lower)) / (Math.log10(upper) - Math.log10(lower)) : (value - lower) / (upper - lower));
        }

        private static int mix(int a, int b, double f) {
            return (int) Math.round((a & 0xFF) * (1 - f) + (b & 0xFF) * f);
        }
    }
}
